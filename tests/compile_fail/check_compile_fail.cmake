# Builds TARGET in BUILD_DIR, expects the build to fail, and the output to match REGEX.
execute_process(COMMAND "${CMAKE_COMMAND}" --build "${BUILD_DIR}" --target "${TARGET}"
                RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(status EQUAL 0)
  message(FATAL_ERROR "${TARGET} compiled, but it must not")
endif()
if(NOT out MATCHES "${REGEX}")
  message(FATAL_ERROR "${TARGET} failed to compile, but without the expected message /${REGEX}/:\n${out}")
endif()
message(STATUS "${TARGET} failed to compile as it must, with: ${CMAKE_MATCH_0}")
