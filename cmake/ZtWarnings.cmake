# Warnings-as-errors for the project's own targets only: generated code (protobuf, skeletons) and
# system headers are compiled as SYSTEM includes so their warnings do not fail our build.
function(zt_target_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wno-missing-field-initializers)
endfunction()
