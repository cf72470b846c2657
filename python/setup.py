"""setuptools entry of the arca binding; the metadata is in pyproject.toml.

setup.py says what pyproject.toml cannot (or only as beta, setuptools 66):
the packages, cffi's cffi_modules (arca_build.py compiles arca._arca
against libarca) and the version, which is the project's, read from (first
found):
  1. ARCA_VERSION in the environment;
  2. project(arca VERSION x.y.z) in ../CMakeLists.txt (a source tree);
  3. ARCA_VERSION_STRING in $ARCA_INCLUDE_DIR/arca/arca.h (a build tree);
  4. pkg-config --modversion arca (the installed arca being built against).
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
    inc = os.environ.get("ARCA_INCLUDE_DIR")
    header = os.path.join(inc or "", "arca", "arca.h")
    if inc and os.path.isfile(header):
        with open(header, encoding="utf-8") as f:
            m = re.search(r'#define\s+ARCA_VERSION_STRING\s+"([^"]+)"',
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
                     "(../CMakeLists.txt), no ARCA_VERSION, no "
                     "ARCA_INCLUDE_DIR/arca/arca.h, and pkg-config finds "
                     "no arca.pc")


setup(version=_version(), packages=["arca"],
      package_data={"arca": ["py.typed"]}, include_package_data=False,
      cffi_modules=["arca_build.py:ffibuilder"])
