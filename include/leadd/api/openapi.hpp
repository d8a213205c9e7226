#pragma once
// GET /openapi.json: the OpenAPI 3.1 document of the whole API. Its source is docs/openapi.json,
// compiled into the binary (cmake/EmbedFile.cmake), so a binary always serves the document it
// was built with. tests/unit/test_openapi.cpp keeps it and register_service_routes in step.

#include "leadd/http/router.hpp"

#include <string_view>

namespace leadd::api {

// The bytes of docs/openapi.json (defined in a file generated at build time).
std::string_view openapi_document();

// GET /openapi.json, no API key: the document with an ETag; If-None-Match with it gives 304.
void register_openapi_route(http::Router& router);

}  // namespace leadd::api
