#include "arrowport/flight/sql/session_store.h"

#include <arrow/flight/server.h>

#include <mutex>
#include <shared_mutex>
#include <utility>

#include "arrowport/common/random_id.h"

namespace arrowport::flight::sql {

namespace fl = arrow::flight;
namespace fsql = arrow::flight::sql;

namespace {

// One call's view of its session: the cookie's session, or one made on first demand
// (whose cookie then goes back with the response).
class SessionMiddleware : public fsql::ServerSessionMiddleware {
 public:
  SessionMiddleware(SessionStore* store, const fl::CallHeaders& headers,
                    std::shared_ptr<fsql::FlightSession> session, std::string id)
      : store_(store), headers_(headers), session_(std::move(session)), id_(std::move(id)) {}

  void SendingHeaders(fl::AddCallHeaders* add) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (created_ && session_) {
      add->AddHeader("set-cookie", std::string(fsql::kSessionCookieName) + "=" + id_);
    }
    if (!closed_id_.empty()) {
      add->AddHeader("set-cookie",
                     std::string(fsql::kSessionCookieName) + "=" + closed_id_ + "; Max-Age=0");
    }
  }
  void CallCompleted(const arrow::Status&) override {}

  bool HasSession() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return session_ != nullptr;
  }

  arrow::Result<std::shared_ptr<fsql::FlightSession>> GetSession() override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!session_) {
      auto [id, session] = store_->NewSession();
      if (!session) return arrow::Status::UnknownError("cannot create a Flight SQL session");
      id_ = std::move(id);
      session_ = std::move(session);
      created_ = true;
    }
    return session_;
  }

  arrow::Status CloseSession() override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!session_) return arrow::Status::Invalid("there is no session to close");
    store_->Close(id_);
    closed_id_ = std::move(id_);
    id_.clear();
    session_.reset();
    created_ = false;
    return arrow::Status::OK();
  }

  const fl::CallHeaders& GetCallHeaders() const override { return headers_; }

 private:
  SessionStore* store_;  // outlives every call
  const fl::CallHeaders& headers_;
  mutable std::mutex mutex_;  // guards everything below
  std::shared_ptr<fsql::FlightSession> session_;
  std::string id_;
  bool created_ = false;
  std::string closed_id_;
};

}  // namespace

std::shared_ptr<SessionStore> SessionStore::Make() {
  return std::shared_ptr<SessionStore>(new SessionStore([] { return RandomId(); }));
}

arrow::Status SessionStore::StartCall(const fl::CallInfo&, const fl::ServerCallContext& context,
                                      std::shared_ptr<fl::ServerMiddleware>* middleware) {
  const auto& headers = context.incoming_headers();
  std::string id;
  const auto range = headers.equal_range("cookie");
  for (auto it = range.first; it != range.second && id.empty(); ++it) {
    for (const auto& [name, value] : ParseCookieString(it->second)) {
      if (name == fsql::kSessionCookieName) id = value;
    }
  }
  std::shared_ptr<fsql::FlightSession> session;
  if (!id.empty()) {
    std::shared_lock<std::shared_mutex> lock(session_store_lock_);
    auto found = session_store_.find(id);
    if (found != session_store_.end()) session = found->second;
  }
  if (!session) id.clear();
  *middleware = std::make_shared<SessionMiddleware>(this, headers, std::move(session), id);
  return arrow::Status::OK();
}

std::pair<std::string, std::shared_ptr<fsql::FlightSession>> SessionStore::NewSession() {
  auto made = CreateNewSession();
  if (made.second) {
    std::lock_guard<std::mutex> lock(ids_mutex_);
    ids_[made.second.get()] = made.first;
  }
  return made;
}

std::optional<std::string> SessionStore::IdOf(const fsql::FlightSession* session) {
  std::lock_guard<std::mutex> lock(ids_mutex_);
  auto found = ids_.find(session);
  if (found == ids_.end()) return std::nullopt;
  return found->second;
}

void SessionStore::Close(const std::string& id) {
  std::shared_ptr<fsql::FlightSession> session;
  {
    std::shared_lock<std::shared_mutex> lock(session_store_lock_);
    auto found = session_store_.find(id);
    if (found != session_store_.end()) session = found->second;
  }
  (void)CloseSession(id);
  if (session) {
    std::lock_guard<std::mutex> lock(ids_mutex_);
    ids_.erase(session.get());
  }
}

size_t SessionStore::size() {
  std::shared_lock<std::shared_mutex> lock(session_store_lock_);
  return session_store_.size();
}

}  // namespace arrowport::flight::sql
