"""setuptools entry of the arca binding; the metadata is in pyproject.toml.

setup.py exists for what pyproject.toml cannot say: cffi's cffi_modules
(arca_build.py compiles arca._arca against libarca) and the version, which
is the project's, read from (first found):
  1. ARCA_VERSION in the environment;
  2. project(arca VERSION x.y.z) in ../CMakeLists.txt (a source tree);
  3. pkg-config --modversion arca (the installed arca being built against).
"""
import os
import re
import subprocess

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))


def _version():
    v = os.environ.get("ARCA_VERSION")
    if v:
        return v
    cmake = os.path.join(HERE, os.pardir, "CMakeLists.txt")
    if os.path.isfile(cmake):
        with open(cmake, encoding="utf-8") as f:
            m = re.search(r"project\(\s*arca\s+VERSION\s+([0-9][0-9A-Za-z.]*)",
                          f.read())
        if m:
            return m.group(1)
    try:
        r = subprocess.run(["pkg-config", "--modversion", "arca"],
                           capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.strip()
    except FileNotFoundError:
        pass
    raise SystemExit("setup.py: no arca version: not in a source tree "
                     "(../CMakeLists.txt), no ARCA_VERSION, and pkg-config "
                     "finds no arca.pc")


setup(version=_version(), cffi_modules=["arca_build.py:ffibuilder"])
