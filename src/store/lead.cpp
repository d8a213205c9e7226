#include "leadd/store/lead.hpp"

#include <array>

namespace leadd::store {

namespace {
constexpr std::array<std::string_view, 6> status_names = {
    "new", "contacted", "qualified", "converted", "lost", "follow_up"};
}

std::string_view to_string(Status s) { return status_names[static_cast<std::size_t>(s)]; }

std::optional<Status> parse_status(std::string_view s) {
    for (std::size_t i = 0; i < status_names.size(); ++i)
        if (status_names[i] == s) return static_cast<Status>(i);
    return std::nullopt;
}

}  // namespace leadd::store
