#include "leadd/store/json_parse.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>

#include <charconv>
#include <cmath>

namespace leadd::store {

namespace json = boost::json;

namespace {

// Boost.JSON's own value-building handler (detail::handler), but for on_double.
struct ExactNumbers {
    static constexpr std::size_t max_object_size = json::object::max_size();
    static constexpr std::size_t max_array_size = json::array::max_size();
    static constexpr std::size_t max_key_size = json::string::max_size();
    static constexpr std::size_t max_string_size = json::string::max_size();

    json::value_stack st;

    ExactNumbers(json::storage_ptr sp, unsigned char* buffer, std::size_t size) : st(std::move(sp), buffer, size) {}

    bool on_document_begin(json::error_code&) { return true; }
    bool on_document_end(json::error_code&) { return true; }
    bool on_object_begin(json::error_code&) { return true; }
    bool on_object_end(std::size_t n, json::error_code&) { return st.push_object(n), true; }
    bool on_array_begin(json::error_code&) { return true; }
    bool on_array_end(std::size_t n, json::error_code&) { return st.push_array(n), true; }
    bool on_key_part(json::string_view s, std::size_t, json::error_code&) { return st.push_chars(s), true; }
    bool on_key(json::string_view s, std::size_t, json::error_code&) { return st.push_key(s), true; }
    bool on_string_part(json::string_view s, std::size_t, json::error_code&) { return st.push_chars(s), true; }
    bool on_string(json::string_view s, std::size_t, json::error_code&) { return st.push_string(s), true; }
    bool on_number_part(json::string_view, json::error_code&) { return true; }
    bool on_int64(std::int64_t i, json::string_view, json::error_code&) { return st.push_int64(i), true; }
    bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) { return st.push_uint64(u), true; }
    // `text` is the whole number: parse_json hands the parser the whole input at once.
    bool on_double(double d, json::string_view text, json::error_code& ec) {
        double exact;
        const auto [end, status] = std::from_chars(text.data(), text.data() + text.size(), exact);
        const double value = status == std::errc() && end == text.data() + text.size() ? exact : d;  // else underflow
        if (std::isinf(value)) {
            ec = json::error::exponent_overflow;
            return false;
        }
        st.push_double(value);
        return true;
    }
    bool on_bool(bool b, json::error_code&) { return st.push_bool(b), true; }
    bool on_null(json::error_code&) { return st.push_null(), true; }
    bool on_comment_part(json::string_view, json::error_code&) { return true; }
    bool on_comment(json::string_view, json::error_code&) { return true; }
};

}  // namespace

json::value parse_json(std::string_view text, boost::system::error_code& ec, json::storage_ptr storage,
                       const json::parse_options& options) {
    unsigned char temp[BOOST_JSON_STACK_BUFFER_SIZE];  // as boost::json::parse does
    json::basic_parser<ExactNumbers> parser(options, json::storage_ptr(), temp, sizeof temp);
    parser.handler().st.reset(std::move(storage));
    const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
    if (!ec && used < text.size()) ec = json::error::extra_data;
    if (ec) return nullptr;
    return parser.handler().st.release();
}

}  // namespace leadd::store
