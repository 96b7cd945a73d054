# The check that keeps the installed headers exactly the public ones (docs/embedding.md,
# "API stability"): a public header may #include "..." only another public header of ours,
# or a dependency's header the package names. Anything else would be missing from the
# installed tree (only the public list is installed), so configuring stops with an error
# naming both headers.
#
# Used two ways:
#   include(cmake/check_public_headers.cmake) and
#     raftkv_check_public_headers(<src dir> <allowed regex> <public header>...)
#   cmake -DSRC_DIR=<dir> -DPUBLIC_HEADERS="a.h;b.h" [-DALLOWED=<regex>]
#         -P cmake/check_public_headers.cmake
#     (tests/install runs it on fixtures that hold a planted violation).
if(CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE)
  cmake_minimum_required(VERSION 3.25)  # the project's policies (IN_LIST) in -P mode too
endif()

function(raftkv_check_public_headers src_dir allowed)
  set(public ${ARGN})
  foreach(header ${public})
    if(NOT EXISTS ${src_dir}/${header})
      message(FATAL_ERROR "public header ${header} does not exist under ${src_dir} "
                          "(cmake/install.cmake, RAFTKV_PUBLIC_HEADERS)")
    endif()
    file(STRINGS ${src_dir}/${header} lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
    foreach(line ${lines})
      string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]+)\".*" "\\1" included "${line}")
      if(EXISTS ${src_dir}/${included})
        if(NOT included IN_LIST public)
          message(FATAL_ERROR "public header ${header} includes \"${included}\", which is internal: "
                              "it is not installed, so ${header} would not compile once installed. "
                              "Hide it behind ${header} (a forward declaration, or a pointer to "
                              "an implementation), or make ${included} public: add it to "
                              "RAFTKV_PUBLIC_HEADERS (cmake/install.cmake) and document it in "
                              "docs/embedding.md, section 4")
        endif()
      elseif(NOT included MATCHES "${allowed}")
        message(FATAL_ERROR "public header ${header} includes \"${included}\", which is neither "
                            "ours nor a dependency's the package names (cmake/install.cmake)")
      endif()
    endforeach()
  endforeach()
endfunction()

if(CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE)
  if(NOT DEFINED ALLOWED)
    set(ALLOWED "^(absl/|raftkv_version\\.h$)")
  endif()
  raftkv_check_public_headers(${SRC_DIR} "${ALLOWED}" ${PUBLIC_HEADERS})
  message(STATUS "public headers include only public headers: ${PUBLIC_HEADERS}")
endif()
