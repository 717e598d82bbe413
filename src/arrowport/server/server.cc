// Server: start, serve until a signal, shut down; and config reloads (file watcher,
// SIGHUP, the reload action). The start-up steps are in server_start.cc.
#include "arrowport/server/server.h"

#include <pthread.h>
#include <signal.h>
#include <systemd/sd-daemon.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "arrowport/common/status_detail.h"
#include "arrowport/config/config.h"
#include "arrowport/config/config_file.h"
#include "arrowport/config/config_secrets.h"
#include "arrowport/server/server_impl.h"

namespace arrowport::server {

void Server::Impl::WatchConfig() {
  // A change is applied once the file has held the same text for kSettlePolls polls in a
  // row (a second or more): a file being rewritten in place reads empty or cut short for
  // a moment, and an empty config is a valid one that drops every stream's routing.
  constexpr int kSettlePolls = 2;
  sigset_t hup;
  sigemptyset(&hup);
  sigaddset(&hup, SIGHUP);
  ConfigFileRead seen;  // what StartWatcher read: the file as the server started on it
  {
    std::lock_guard<std::mutex> lock(reload_mutex);
    seen = config_tried;
  }
  int unchanged_polls = 0;
  auto last_checkpoint = std::chrono::steady_clock::now();
  const auto interval = std::chrono::seconds(setup.config.checkpoint_interval_s);
  while (!stop_watcher) {
    if (interval.count() > 0 && std::chrono::steady_clock::now() - last_checkpoint >= interval) {
      last_checkpoint = std::chrono::steady_clock::now();
      auto st = database->Checkpoint();
      if (!st.ok()) logger.Warn("periodic checkpoint failed", {{"error", st.message()}});
    }
    timespec timeout{0, 500'000'000};
    const int signal = sigtimedwait(&hup, nullptr, &timeout);
    if (stop_watcher) break;
    if (signal == SIGHUP) {
      logger.Info("SIGHUP: reloading config", {{"file", setup.config_path}});
      (void)ReloadConfig();  // logs its own errors; the old config stays in force
      continue;
    }
    if (setup.config_path.empty()) continue;
    ConfigFileRead now = ReadConfig();
    if (now != seen) {
      seen = std::move(now);
      unchanged_polls = 0;
      continue;
    }
    if (++unchanged_polls < kSettlePolls) continue;
    {
      std::lock_guard<std::mutex> lock(reload_mutex);
      if (now == config_tried) continue;
    }
    logger.Info("config file changed", {{"file", setup.config_path}});
    (void)ReloadConfig(now);
  }
}

Server::Impl::ConfigFileRead Server::Impl::ReadConfig() const {
  auto file = config::ReadConfigFile(setup.config_path);
  if (!file.ok()) return {false, file.status().message(), {}};
  return {true, std::move(file->text), file->readers};
}

arrow::Status Server::Impl::ReloadConfig(const std::optional<ConfigFileRead>& read) {
  std::lock_guard<std::mutex> lock(reload_mutex);
  arrow::Status st;
  try {
    st = ReloadConfigLocked(read);
  } catch (const std::exception& e) {
    logger.Error("config reload rejected; previous config stays in force",
                 {{"error", e.what()}});
    st = arrow::Status::UnknownError("config reload failed: ", e.what());
  }
  if (config_reloads) config_reloads->With({st.ok() ? "ok" : "rejected"}).Add();
  return st;
}

arrow::Status Server::Impl::ReloadConfigLocked(const std::optional<ConfigFileRead>& read) {
  if (setup.config_path.empty()) {
    return arrow::Status::Invalid("server was started without --config; nothing to reload");
  }
  config_tried = read ? *read : ReadConfig();
  auto fresh = config_tried.readable
                   ? config::LoadText(config_tried.content, setup.config_path,
                                      setup.environ_entries, setup.overrides)
                   : arrow::Result<config::Config>(arrow::Status::IOError(config_tried.content));
  if (fresh.ok()) {
    auto exposure = config::CheckConfigFileAccess(config_tried.readers, &*fresh);
    if (!exposure.ok()) fresh = exposure;
  }
  if (!fresh.ok()) {
    logger.Error("config reload rejected; previous config stays in force",
                 {{"error", fresh.status().message()}});
    return fresh.status();
  }
  if (fresh->db_path != setup.config.db_path || fresh->flight.port != setup.config.flight.port ||
      fresh->http.port != setup.config.http.port || fresh->flight.host != setup.config.flight.host ||
      fresh->http.host != setup.config.http.host) {
    logger.Warn("config reload: database and listener settings apply at the next start; "
                "stream routing applies now");
  }
  if (fresh->lake_commit_key_file != setup.config.lake_commit_key_file) {
    logger.Warn("config reload: lake.commit_key_file applies at the next start");
  }
  const auto& cluster_now = setup.config.cluster;
  const auto& cluster_new = fresh->cluster;
  const auto same_nodes = [](const auto& a, const auto& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (a[i].name != b[i].name || a[i].flight != b[i].flight || a[i].http != b[i].http) {
        return false;
      }
    }
    return true;
  };
  if (cluster_new.self != cluster_now.self || cluster_new.secret_file != cluster_now.secret_file ||
      cluster_new.health_interval_ms != cluster_now.health_interval_ms ||
      !same_nodes(cluster_new.nodes, cluster_now.nodes) ||
      fresh->lake_read_part_mb != setup.config.lake_read_part_mb) {
    logger.Warn("config reload: cluster.* and lake.read_part_mb apply at the next start");
  }
  const auto& tls_now = setup.config.tls;
  if (fresh->metrics.enabled != setup.config.metrics.enabled ||
      fresh->metrics.port != setup.config.metrics.port ||
      fresh->metrics.host != setup.config.metrics.host ||
      fresh->metrics.max_stream_labels != setup.config.metrics.max_stream_labels) {
    logger.Warn("config reload: metrics.* applies at the next start");
  }
  if (fresh->tls.cert != tls_now.cert || fresh->tls.key != tls_now.key ||
      fresh->tls.client_ca != tls_now.client_ca) {
    logger.Warn("config reload: tls.* applies at the next start (certificates are loaded "
                "once, at start)");
  }
  if (auto checked = CheckTransforms(*fresh); !checked.ok()) {
    logger.Error("config reload rejected; previous config stays in force",
                 {{"error", checked.message()}});
    return checked;
  }
  if (!fresh->exposure_warning.empty()) logger.Warn(fresh->exposure_warning);
  router->Update(*fresh);
  if (metrics) metrics->SetConfiguredStreams(StreamNames(*fresh));
  transfer->Update(fresh->transfer);
  // Users, roles and passwords apply now (tokens of removed or changed users end);
  // turning authentication on or off needs a restart.
  authenticator->Reload(*fresh);
  if (config::AuthEnabled(*fresh) != authenticator->enabled()) {
    logger.Warn("config reload: turning authentication on or off applies at restart",
                {{"auth", authenticator->enabled() ? "on" : "off"}});
  }
  logger.Info("config reloaded", {{"file", setup.config_path},
                                  {"streams", std::to_string(fresh->streams.size())}});
  return arrow::Status::OK();
}

void Server::Impl::StartWatcher() {
  if (setup.config_path.empty() && setup.config.checkpoint_interval_s <= 0) return;
  {
    std::lock_guard<std::mutex> lock(reload_mutex);
    if (!setup.config_path.empty()) config_tried = ReadConfig();  // what the start loaded
  }
  watcher = std::thread([this] {
    // An exception must neither end the process (std::terminate) nor silently stop
    // reloads and checkpoints: log it and watch again.
    while (!stop_watcher) {
      try {
        WatchConfig();
      } catch (const std::exception& e) {
        logger.Error("config watcher failed; restarting it", {{"error", e.what()}});
        std::this_thread::sleep_for(std::chrono::seconds(1));  // no hot loop if it recurs
      }
    }
  });
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { (void)Shutdown(); }

arrow::Result<std::unique_ptr<Server>> Server::Start(ServerSetup setup) {
  // Block SIGHUP, SIGINT and SIGTERM before any thread exists (DuckDB, gRPC, HTTP workers
  // inherit the mask): the config watcher and ServeUntilSignal receive them synchronously
  // instead of through process-wide handlers.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  auto impl = std::make_unique<Impl>(std::move(setup));
  impl->ReserveFileDescriptors();
  if (!impl->setup.config.tls.cert.empty()) {
    ARROW_ASSIGN_OR_RAISE(impl->tls, http::TlsContext::Make(impl->setup.config.tls));
    if (!impl->tls->key_warning().empty()) impl->logger.Warn(impl->tls->key_warning());
  }
  ARROW_RETURN_NOT_OK(impl->CheckPorts());
  ARROW_RETURN_NOT_OK(impl->OpenDatabase());
  ARROW_RETURN_NOT_OK(impl->CheckTransforms(impl->setup.config));
  impl->MakeMetrics();
  ARROW_RETURN_NOT_OK(impl->MakeAuthenticator());
  ARROW_RETURN_NOT_OK(impl->MakeCluster());
  ARROW_RETURN_NOT_OK(impl->LoadLakeSealKey());
  impl->MakePipelines();
  ARROW_RETURN_NOT_OK(impl->StartFlight());
  auto http = impl->StartHttp();
  if (http.ok()) http = impl->StartMetricsListener();
  if (!http.ok()) {
    if (impl->http) impl->http->Stop(std::chrono::system_clock::now());
    (void)impl->flight->Shutdown();
    return http;
  }
  impl->PublishListeners();
  if (impl->cluster_health) impl->cluster_health->Start();
  impl->LogListening();
  impl->StartWatcher();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

int Server::flight_port() const { return impl_->flight->port(); }

std::string Server::flight_uri() const { return impl_->FlightUri(); }

std::string Server::http_uri() const { return impl_->HttpUri(); }

std::string Server::ReadyLine() const {
  std::string line = "arrowport ready flight=" + flight_uri() + " http=" + http_uri();
  if (impl_->metrics_http) line += " metrics=" + impl_->MetricsUri();
  return line;
}

arrow::Status Server::ServeUntilSignal() {
  // systemd (Type=notify): both listeners accept by now. sd_notify is a no-op without
  // NOTIFY_SOCKET, i.e. everywhere but under a service manager.
  (void)sd_notify(0, "READY=1");
  // Not Flight's SetShutdownOnSignals: its shutdown waits for every open call without a
  // deadline, so an idle DoPut or an unread DoGet would keep the process alive forever.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  int signal = 0;
  while (sigwait(&stop, &signal) != 0) {
  }
  (void)sd_notify(0, "STOPPING=1");
  impl_->logger.Info("shutting down",
                     {{"signal", std::to_string(signal)},
                      {"grace_s", std::to_string(impl_->setup.config.limits.shutdown_grace_s)}});
  return Shutdown();
}

arrow::Status Server::Shutdown() {
  std::lock_guard<std::mutex> lock(impl_->shutdown_mutex);
  if (impl_->shut_down) return arrow::Status::OK();
  impl_->shut_down = true;
  // Stops accepting; in-flight calls get limits.shutdown_grace_s to finish, then every
  // call still open is cancelled (DuckDB interrupted, uncommitted work rolled back) so
  // the checkpoint below always runs. The grace counts from here, and the listeners stop
  // at once: the watcher (reloads, periodic checkpoints) starts nothing more and is
  // joined at the end, as its poll takes up to 0.5 s, or a checkpoint it is running.
  const auto grace = std::chrono::seconds(impl_->setup.config.limits.shutdown_grace_s);
  const auto deadline = std::chrono::system_clock::now() + grace;
  impl_->stop_watcher = true;
  // No new refresh or upkeep; one under way gets the grace period like a call.
  if (impl_->lake_service) impl_->lake_service->RequestStop();
  std::mutex done_mutex;
  std::condition_variable done_changed;
  bool done = false;
  std::thread canceller([&] {
    std::unique_lock<std::mutex> lock(done_mutex);
    if (!done_changed.wait_until(lock, deadline, [&] { return done; })) {
      lock.unlock();
      impl_->logger.Warn("shutdown grace period over: cancelling calls still open",
                         {{"calls", std::to_string(impl_->watchdog->size())}});
      impl_->watchdog->CancelAll(ShuttingDown("the server is shutting down"));
      // A store that does not answer (stopped, trickling) holds nothing past the grace:
      // its requests end, cleanup after them is skipped (vacuum collects the files).
      impl_->store_stop->Cancel(ShuttingDown("the server is shutting down"));
    }
  });
  // Both protocols get a little longer than the grace period: the calls still open when
  // it ends are cancelled by us first and answer why (the server is shutting down, retry;
  // an HTTP upload lists what it committed); closing their connections, or gRPC's own
  // cancellation of everything, is only the last resort.
  constexpr auto kAnswerWindow = std::chrono::seconds(2);
  // Every listener stops at once, each beside the others: a Stop waits for its calls,
  // and Flight went on serving new calls while HTTP uploads drained.
  std::vector<std::thread> stoppers;
  // No call on the metrics listener answers late: no window there.
  if (impl_->metrics_http) stoppers.emplace_back([&] { impl_->metrics_http->Stop(deadline); });
  if (impl_->http) stoppers.emplace_back([&] { impl_->http->Stop(deadline, kAnswerWindow); });
  const auto grpc_deadline = deadline + kAnswerWindow;
  auto st = impl_->flight->Shutdown(&grpc_deadline);
  (void)impl_->flight->Wait();
  for (auto& stopper : stoppers) stopper.join();
  if (impl_->cluster_health) impl_->cluster_health->Stop();
  if (impl_->lake_service) impl_->lake_service->Stop();
  {
    std::lock_guard<std::mutex> lock(done_mutex);
    done = true;
  }
  done_changed.notify_all();
  canceller.join();
  if (impl_->watcher.joinable()) impl_->watcher.join();  // before the last checkpoint
  impl_->store_stop->Cancel(ShuttingDown("the server has shut down"));
  // A backup under way was cancelled with the stores; the schedule ends here, before the
  // last checkpoint (a backup's copy holds checkpoints back).
  impl_->backups.reset();
  // Open Flight SQL transactions roll back; prepared statements are freed.
  if (impl_->sql_sessions) impl_->sql_sessions->Close();
  auto cp = impl_->database->Checkpoint();
  if (!cp.ok()) impl_->logger.Warn("checkpoint at shutdown failed", {{"error", cp.message()}});
  impl_->logger.Info("stopped", {{"database", impl_->setup.config.db_path}});
  return st;
}

}  // namespace arrowport::server
