# The layers (DESIGN.md §3, STYLE.md): which module may use which. Dependencies point
# inward, to core:
#
#   core  <-  storage, federation, http  <-  api  <-  app
#
# asio (Asio and Beast compiled once) and web (the embedded pages) are helper
# libraries of http and api. baton_check_layers() stops the configure step when a
# module's target links a module its layer may not use. Each module publishes its
# headers from src/<module>/include/baton/<module>/ to what links it, so an include
# against the layers does not compile (tests/layers shows it); the test `layers`
# (cmake/check_includes.cmake) checks that every module includes only itself and what
# it links directly, and that the libraries with one home stay there.
set(BATON_MODULES core storage federation http api app)
set(BATON_LAYER_core "")
set(BATON_LAYER_storage "core")
set(BATON_LAYER_federation "core")
set(BATON_LAYER_http "core;asio")
set(BATON_LAYER_api "core;federation;http;asio;web")
set(BATON_LAYER_app "core;storage;federation;http;api;asio")

function(baton_check_layers)
  set(out "# Written by cmake/layers.cmake: each module's direct dependencies.\n")
  foreach(m ${BATON_MODULES})
    get_target_property(libs baton_${m} LINK_LIBRARIES)
    set(deps "")
    foreach(l ${libs})
      if(l MATCHES "^baton_([a-z]+)$")
        set(dep ${CMAKE_MATCH_1})
        if(NOT dep IN_LIST BATON_LAYER_${m})
          message(FATAL_ERROR "layers: baton_${m} links baton_${dep}, which the ${m} layer may not use "
                              "(allowed: ${BATON_LAYER_${m}}; cmake/layers.cmake)")
        endif()
        list(APPEND deps ${dep})
      endif()
    endforeach()
    string(APPEND out "set(DEPS_${m} \"${deps}\")\n")
  endforeach()
  file(WRITE ${CMAKE_BINARY_DIR}/layers-deps.cmake "${out}")
endfunction()
