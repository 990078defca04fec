# Writes zt_version.h from version.h.in with the commit checked out now (run at every build, not
# only at configure time, so zerotrace_build_info names the commit that was built). Rewrites the
# file only when its text changes, so an unchanged commit recompiles nothing.
#   cmake -DIN=version.h.in -DOUT=zt_version.h -DSOURCE_DIR=... -DPROJECT_VERSION=... -P gen_version.cmake
execute_process(COMMAND git rev-parse --short HEAD WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE ZT_GIT_COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT ZT_GIT_COMMIT)
  set(ZT_GIT_COMMIT unknown)
endif()
execute_process(COMMAND git status --porcelain --untracked-files=no WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE dirty OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(dirty)
  set(ZT_GIT_COMMIT "${ZT_GIT_COMMIT}-dirty")
endif()
configure_file(${IN} ${OUT}.tmp @ONLY)
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
