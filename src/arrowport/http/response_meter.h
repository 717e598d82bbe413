#pragma once

#include <memory>

#include <httplib.h>

namespace arrowport::metrics {
class CallMeter;
}

namespace arrowport::http {

/// The meter of the request `res` answers (null when metrics are off): set by the
/// gateway's pre-routing hook, it lives as long as the response (a streamed body included).
metrics::CallMeter* CallMeterOf(const httplib::Response& res);
/// The same meter, shared: a streamed body's provider holds it so that a body cut after
/// its status line still records its outcome before the call is counted.
std::shared_ptr<metrics::CallMeter> SharedCallMeterOf(const httplib::Response& res);
void SetCallMeter(httplib::Response& res, std::shared_ptr<metrics::CallMeter> meter);

}  // namespace arrowport::http
