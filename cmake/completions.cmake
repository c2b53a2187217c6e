# SPDX-License-Identifier: GPL-2.0-or-later
# completions.cmake: run at build time (cmake -P) after list_formats is built: fills the format
# lists of the shell completion templates from the driver registry.
# Inputs: -DLIST=list_formats binary -DIN=template -DOUT=file to write.
foreach(kind read create)
  execute_process(COMMAND "${LIST}" ${kind} OUTPUT_VARIABLE _names RESULT_VARIABLE _rc
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _rc EQUAL 0 OR _names STREQUAL "")
    message(FATAL_ERROR "${LIST} ${kind} failed")
  endif()
  set(DIMG_FORMATS_${kind} "${_names}")
endforeach()
configure_file("${IN}" "${OUT}" @ONLY)
