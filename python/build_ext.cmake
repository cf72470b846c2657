# cmake -P python/build_ext.cmake: build the binding's C extension
# (arca/_arca*.so) for `make install`, run by the arca_python target
# (CMakeLists.txt). Run as a script, not a shell command, so the RUNPATH's
# literal $ORIGIN reaches the linker unexpanded.
#   -DPYTHON=  the interpreter (/usr/bin/python3)
#   -DSRC=     the source tree
#   -DLIB_DIR= the directory of the build's libarca.so (linked against)
#   -DRPATH=   the installed libdir relative to the installed arca/ package
#   -DOUT=     output directory: OUT/arca/_arca*.so
foreach(v PYTHON SRC LIB_DIR OUT)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "build_ext.cmake: -D${v}= missing")
  endif()
endforeach()
set(ENV{ARCA_INCLUDE_DIR} "${SRC}/include")
set(ENV{ARCA_LIB_DIR} "${LIB_DIR}")
if(IS_ABSOLUTE "${RPATH}")
  set(ENV{ARCA_RPATH} "${RPATH}")
elseif(RPATH STREQUAL "")
  set(ENV{ARCA_RPATH} "$ORIGIN")
else()
  set(ENV{ARCA_RPATH} "$ORIGIN/${RPATH}")
endif()
file(MAKE_DIRECTORY "${OUT}")
execute_process(COMMAND "${PYTHON}" "${SRC}/python/arca_build.py" "${OUT}"
  WORKING_DIRECTORY "${OUT}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "build_ext.cmake: ${PYTHON} ${SRC}/python/arca_build.py failed (${rc})")
endif()
