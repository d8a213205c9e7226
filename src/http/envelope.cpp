#include "leadd/http/envelope.hpp"

#include <boost/json/serialize.hpp>

namespace leadd::http {

namespace {
// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is invalid (overlong forms,
// surrogates and code points above U+10FFFF included).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = byte(i);
    if (c < 0x80) return 1;
    std::size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 0;
    if (i + n > s.size()) return 0;
    if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
    for (std::size_t k = 2; k < n; ++k)
        if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
    return n;
}
}  // namespace

bool is_valid_utf8(std::string_view bytes) {
    for (std::size_t i = 0; i < bytes.size();) {
        const std::size_t n = utf8_sequence_length(bytes, i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

std::string to_valid_utf8(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size());
    for (std::size_t i = 0; i < bytes.size();) {
        const std::size_t n = utf8_sequence_length(bytes, i);
        if (n == 0) {
            out += "\xEF\xBF\xBD";
            ++i;
        } else {
            out.append(bytes.substr(i, n));
            i += n;
        }
    }
    return out;
}

Response success_response(int status, boost::json::value data) {
    boost::json::object body;
    body["success"] = true;
    body["data"] = std::move(data);
    Response r;
    r.status = status;
    r.body = boost::json::serialize(body);
    return r;
}

namespace {
constexpr std::string_view success_head = R"({"success":true,"data":)";
}

Response success_response_text(int status, std::string_view data_json) {
    std::string body;
    body.reserve(success_head.size() + data_json.size() + 1);
    body.append(success_head).append(data_json);
    return success_response_built(status, std::move(body));
}

std::string success_envelope_head(std::size_t data_bytes) {
    std::string body;
    body.reserve(success_head.size() + data_bytes + 1);
    body.append(success_head);
    return body;
}

Response success_response_built(int status, std::string body) {
    Response r;
    r.status = status;
    r.body = std::move(body);
    r.body.push_back('}');
    return r;
}

Response error_response(int status, std::string_view code, std::string_view message,
                        const Request& request, boost::json::object details) {
    boost::json::object body;
    body["success"] = false;
    body["error"] = message;
    body["code"] = code;
    if (!details.empty()) body["details"] = std::move(details);
    body["requestId"] = request.request_id;
    Response r;
    r.status = status;
    r.body = boost::json::serialize(body);
    return r;
}

}  // namespace leadd::http
