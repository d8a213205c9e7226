#include "leadd/store/merge_patch.hpp"

namespace leadd::store {

void apply_merge_patch(boost::json::object& target, const boost::json::object& patch) {
    for (const auto& [key, value] : patch) {
        if (value.is_null()) {
            target.erase(key);
        } else if (value.is_object()) {
            auto it = target.find(key);
            if (it == target.end() || !it->value().is_object()) {
                boost::json::object fresh;
                apply_merge_patch(fresh, value.get_object());
                target[key] = std::move(fresh);
            } else {
                apply_merge_patch(it->value().get_object(), value.get_object());
            }
        } else {
            target[key] = value;
        }
    }
}

}  // namespace leadd::store
