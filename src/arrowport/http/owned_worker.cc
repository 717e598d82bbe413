#include "arrowport/http/owned_worker.h"

#include <exception>

namespace arrowport::http {

OwnedWorker::OwnedWorker(std::function<void()> work, std::function<void()> unblock)
    : unblock_(std::move(unblock)), thread_([this, work = std::move(work)] {
        try {
          work();
        } catch (const std::exception& e) {
          status_ = arrow::Status::UnknownError("request worker failed: ", e.what());
        } catch (...) {
          status_ = arrow::Status::UnknownError("request worker failed");
        }
      }) {}

OwnedWorker::~OwnedWorker() {
  if (!thread_.joinable()) return;
  try {
    if (unblock_) unblock_();
  } catch (...) {
    // Joining matters more than reporting here: the destructor must not throw.
  }
  thread_.join();
}

void OwnedWorker::Join() {
  if (thread_.joinable()) thread_.join();
}

}  // namespace arrowport::http
