#include "arrowport/http/response_meter.h"

#include <utility>

namespace arrowport::http {

namespace {
constexpr const char* kMeterKey = "arrowport.meter";
}  // namespace

std::shared_ptr<metrics::CallMeter> SharedCallMeterOf(const httplib::Response& res) {
  const auto* meter = res.user_data.get<std::shared_ptr<metrics::CallMeter>>(kMeterKey);
  return meter != nullptr ? *meter : nullptr;
}

metrics::CallMeter* CallMeterOf(const httplib::Response& res) {
  const auto* meter = res.user_data.get<std::shared_ptr<metrics::CallMeter>>(kMeterKey);
  return meter != nullptr ? meter->get() : nullptr;
}

void SetCallMeter(httplib::Response& res, std::shared_ptr<metrics::CallMeter> meter) {
  res.user_data.set(kMeterKey, std::move(meter));
}

}  // namespace arrowport::http
