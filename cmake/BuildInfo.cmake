# Version and build info for `leadd --version` and the first log line.
#
# leadd_add_build_info(target) gives `target` a generated header <leadd/build_info.hpp>. The
# header is regenerated at every build by GenerateBuildInfo.cmake but rewritten only when its
# content changes, so a new commit recompiles the one file that includes it, nothing else.

function(leadd_add_build_info target)
  set(dir ${CMAKE_BINARY_DIR}/generated)
  set(kind ${CMAKE_BUILD_TYPE})
  string(TOUPPER "${CMAKE_BUILD_TYPE}" type_upper)
  string(REGEX MATCH "-O[0-9sgz]" opt_level "${CMAKE_CXX_FLAGS_${type_upper}} ${CMAKE_CXX_FLAGS}")
  if(opt_level)
    string(APPEND kind " ${opt_level}")
  endif()
  if(CMAKE_INTERPROCEDURAL_OPTIMIZATION)
    string(APPEND kind ", LTO")
  endif()
  if(LEADD_STATIC)
    string(APPEND kind ", static")
  endif()
  if(LEADD_SANITIZE)
    string(APPEND kind ", ${LEADD_SANITIZE} sanitizer")
  endif()
  add_custom_target(${target}_build_info
    COMMAND ${CMAKE_COMMAND}
      -DSOURCE_DIR=${CMAKE_SOURCE_DIR}
      -DOUTPUT=${dir}/leadd/build_info.hpp
      -DPROJECT_VERSION=${PROJECT_VERSION}
      "-DCOMPILER=${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}"
      "-DBUILD_KIND=${kind}"
      -P ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/GenerateBuildInfo.cmake
    BYPRODUCTS ${dir}/leadd/build_info.hpp
    VERBATIM)
  add_dependencies(${target} ${target}_build_info)
  target_include_directories(${target} PRIVATE ${dir})
endfunction()
