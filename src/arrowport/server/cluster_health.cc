#include "arrowport/server/cluster_health.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "arrowport/common/ca_certificates.h"
#include "arrowport/common/logger.h"
#include "arrowport/flight/cluster_view.h"

namespace arrowport::server {

namespace {

size_t Discard(char*, size_t size, size_t count, void*) { return size * count; }

// Whether `url`/readyz answers 200 within `timeout_ms`; `why` says what else happened.
bool Ready(const std::string& url, int64_t timeout_ms, const CaStore* ca, std::string* why) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(),
                                                           &curl_easy_cleanup);
  if (!curl) {
    *why = "libcurl could not make a handle";
    return false;
  }
  const std::string target = url + "/readyz";
  curl_easy_setopt(curl.get(), CURLOPT_URL, target.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout_ms));
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &Discard);
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  if (ca != nullptr) {
    curl_easy_setopt(curl.get(), CURLOPT_CAINFO, ca->file.empty() ? nullptr : ca->file.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_CAPATH, ca->dir.empty() ? nullptr : ca->dir.c_str());
  }
  const CURLcode code = curl_easy_perform(curl.get());
  if (code != CURLE_OK) {
    *why = curl_easy_strerror(code);
    return false;
  }
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    *why = "/readyz answered " + std::to_string(status);
    return false;
  }
  return true;
}

}  // namespace

ClusterHealth::ClusterHealth(flight::ClusterView* cluster, int64_t interval_ms, Logger* logger)
    : cluster_(cluster),
      interval_ms_(interval_ms),
      logger_(logger),
      misses_(cluster->nodes().size(), 0) {}

ClusterHealth::~ClusterHealth() { Stop(); }

void ClusterHealth::Start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
}

void ClusterHealth::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ClusterHealth::Run() {
  // -1: not asked yet; 0: out (two answers missed in a row); 1: in.
  std::vector<int> last(cluster_->nodes().size(), -1);
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_) {
    lock.unlock();
    PollOnce(last);
    lock.lock();
    wake_.wait_for(lock, std::chrono::milliseconds(interval_ms_), [this] { return stop_; });
  }
}

void ClusterHealth::PollOnce(std::vector<int>& last) {
  // An answer may take a second at least (a busy node), two at most (one stuck node
  // holds up the round).
  const int64_t timeout_ms = std::clamp<int64_t>(interval_ms_, 1000, 2000);
  auto ca = FindHostCaStore();
  const auto& nodes = cluster_->nodes();
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (i == cluster_->self()) continue;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stop_) return;
    }
    std::string why;
    const bool answered = Ready(nodes[i].http, timeout_ms, ca.ok() ? &*ca : nullptr, &why);
    // Out after two misses in a row (as the balancer's checks): one slow answer on a
    // loaded node does not take its share of reads away.
    misses_[i] = answered ? 0 : misses_[i] + 1;
    const bool ready = answered || (misses_[i] < 2 && last[i] != 0);
    cluster_->SetServing(i, ready);
    if (last[i] != static_cast<int>(ready)) {
      if (ready) {
        logger_->Info("cluster node answers", {{"node", nodes[i].name}, {"url", nodes[i].http}});
      } else {
        logger_->Warn("cluster node does not answer: its share of lake reads goes to the others",
                      {{"node", nodes[i].name}, {"url", nodes[i].http}, {"error", why}});
      }
      last[i] = static_cast<int>(ready);
    }
  }
}

}  // namespace arrowport::server
