#include "arrowport/cli/sql_shell.h"

#include <CLI/CLI.hpp>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "arrow/record_batch.h"
#include "arrow/table.h"
#include "arrow/type.h"
#include "arrowport/cli/command_line.h"
#include "arrowport/cli/commands.h"
#include "arrowport/cli/line_reader.h"
#include "arrowport/cli/sql_output.h"
#include "arrowport/cli/sql_session.h"
#include "arrowport/cli/sql_statements.h"
#include "arrowport/cli/terminal_text.h"

namespace arrowport::cli {

namespace {

constexpr const char* kPrompt = "arrowport> ";
constexpr const char* kContinuation = "      ...> ";
constexpr const char* kHelp =
    "Statements end with ';' and may span lines. Ctrl-C cancels the running statement\n"
    "(or clears what is typed); Ctrl-D ends the shell.\n"
    ".help               this text\n"
    ".tables [PATTERN]   tables and views (PATTERN: SQL LIKE, e.g. sales%)\n"
    ".schema [TABLE]     the columns of TABLE (of every table without one)\n"
    ".mode [MODE]        how results print: table (default), csv, json, line\n"
    ".timer on|off       print each statement's time\n"
    ".output [FILE]      results to FILE (replaced), or back to the terminal\n"
    ".read FILE          run the statements and commands in FILE\n"
    ".quit, .exit        end the shell\n";

// Ctrl-C while a statement runs: a thread waits on the signal's pipe and cancels it.
class CancelOnInterrupt {
 public:
  CancelOnInterrupt(InterruptSignal* interrupt, SqlSession* session) {
    if (interrupt == nullptr) return;
    watcher_ = std::thread([this, interrupt, session] {
      pollfd wait{interrupt->fd(), POLLIN, 0};
      while (!done_.load()) {
        if (::poll(&wait, 1, 50) <= 0 || !interrupt->Take()) continue;
        pressed_ = true;
        reading_ = session->Cancel();
      }
    });
  }
  ~CancelOnInterrupt() {
    done_ = true;
    if (watcher_.joinable()) watcher_.join();
  }
  bool pressed() const { return pressed_.load(); }
  bool while_reading() const { return reading_.load(); }

 private:
  std::atomic<bool> done_{false}, pressed_{false}, reading_{false};
  std::thread watcher_;
};

std::vector<std::string> Words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

std::string UserMessage(const arrow::Status& status) {
  std::string message = status.message();
  const auto debug = message.find(". gRPC client debug context");
  if (debug != std::string::npos) message.resize(debug);
  return message;
}

class Shell {
 public:
  Shell(std::unique_ptr<SqlSession> session, InterruptSignal* interrupt)
      : session_(std::move(session)), interrupt_(interrupt) {}

  ShellOutput& output() { return output_; }

  /// Reads `lines` to their end (or .quit). `script`: the first error ends it.
  arrow::Status Run(LineReader& lines, bool script);

 private:
  arrow::Status Execute(const std::string& sql);
  arrow::Status DotCommand(const std::string& line);
  arrow::Status ListTables(const std::vector<std::string>& words);
  arrow::Status ShowSchema(const std::vector<std::string>& words);
  arrow::Status ReadFile(const std::string& path);
  // What failed, and where in a script.
  arrow::Status Located(const arrow::Status& status, const LineReader& lines, bool script) {
    if (!script || status.ok()) return status;
    return status.WithMessage(UserMessage(status), " (", lines.where(), ")");
  }

  std::unique_ptr<SqlSession> session_;
  InterruptSignal* interrupt_;
  ShellOutput output_;
  bool timer_ = false;
  bool quit_ = false;
  int read_depth_ = 0;
};

arrow::Status Shell::Run(LineReader& lines, bool script) {
  StatementSplitter splitter;
  std::string line;
  while (!quit_) {
    const auto outcome = lines.Read(splitter.pending() ? kContinuation : kPrompt, &line);
    if (outcome == LineReader::Outcome::kInterrupted) {
      splitter.Reset();
      continue;
    }
    const bool end = outcome == LineReader::Outcome::kEnd;
    std::vector<std::string> statements;
    if (!end && !splitter.pending() && IsDotCommand(line)) {
      lines.Remember(line);
      auto status = Located(DotCommand(line), lines, script);
      if (!status.ok() && script) return status;
      if (!status.ok()) std::fprintf(stderr, "Error: %s\n", UserMessage(status).c_str());
      continue;
    }
    if (!end) splitter.Feed(line);
    statements = splitter.TakeComplete();
    // A script may end without its last ';': that statement runs too.
    if (end && splitter.pending()) statements.push_back(splitter.TakePending());
    for (const auto& sql : statements) {
      lines.Remember(sql + ";");
      auto status = Located(Execute(sql), lines, script);
      if (!status.ok() && script) return status;
      if (!status.ok()) std::fprintf(stderr, "Error: %s\n", UserMessage(status).c_str());
    }
    if (end) break;
  }
  return arrow::Status::OK();
}

arrow::Status Shell::Execute(const std::string& sql) {
  const auto started = std::chrono::steady_clock::now();
  CancelOnInterrupt cancel(interrupt_, session_.get());
  auto rows = [&]() -> arrow::Result<int64_t> {
    ARROW_ASSIGN_OR_RAISE(auto reader, session_->Execute(sql));
    // A statement without a result (CREATE, SET) answers with no columns: nothing to show.
    if (reader->schema()->num_fields() == 0) {
      ARROW_RETURN_NOT_OK(reader->ToTable().status());
      return 0;
    }
    return output_.Write(reader.get());
  }();
  if (!rows.ok() && cancel.pressed()) {
    // A result can be cut short; a statement the server ran in its planning call cannot.
    return arrow::Status::Cancelled(
        cancel.while_reading()
            ? "cancelled"
            : "cancelled, but the server had already run the statement: Flight SQL runs a "
              "statement without rows to return (CREATE TABLE AS, INSERT) in the call "
              "that plans it, which a client cannot interrupt");
  }
  ARROW_RETURN_NOT_OK(rows);
  if (timer_) {
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
    std::fprintf(stderr, "Run Time: %.3f s\n", took.count());
  }
  return arrow::Status::OK();
}

arrow::Status Shell::DotCommand(const std::string& line) {
  const auto words = Words(line);
  const std::string& command = words[0];
  const auto argument = [&words](size_t i) { return i < words.size() ? words[i] : ""; };
  if (command == ".help") return output_.WriteText(kHelp);
  if (command == ".quit" || command == ".exit") {
    quit_ = true;
    return arrow::Status::OK();
  }
  if (command == ".tables") return ListTables(words);
  if (command == ".schema") return ShowSchema(words);
  if (command == ".mode") {
    if (words.size() == 1) return output_.WriteText(std::string(ShellModeName(output_.mode())) + "\n");
    ARROW_ASSIGN_OR_RAISE(auto mode, ParseShellMode(argument(1)));
    output_.set_mode(mode);
    return arrow::Status::OK();
  }
  if (command == ".timer") {
    if (argument(1) != "on" && argument(1) != "off") {
      return arrow::Status::Invalid(".timer takes on or off");
    }
    timer_ = argument(1) == "on";
    return arrow::Status::OK();
  }
  if (command == ".output") return output_.Redirect(argument(1));
  if (command == ".read") {
    if (words.size() != 2) return arrow::Status::Invalid(".read takes one FILE");
    return ReadFile(argument(1));
  }
  return arrow::Status::Invalid("unknown command ", Printable(command), " (.help lists them)");
}

arrow::Status Shell::ListTables(const std::vector<std::string>& words) {
  ARROW_ASSIGN_OR_RAISE(auto tables,
                        session_->Tables(words.size() > 1 ? words[1] : "", false));
  TextTable table({"name", "type"});
  for (const auto& entry : tables) {
    const bool main = entry.schema.empty() || entry.schema == "main";
    table.Add({main ? entry.name : entry.schema + "." + entry.name, entry.type});
  }
  return output_.WriteText(table.Render(output_.limits(), /*count_line=*/false));
}

arrow::Status Shell::ShowSchema(const std::vector<std::string>& words) {
  ARROW_ASSIGN_OR_RAISE(auto tables, session_->Tables(words.size() > 1 ? words[1] : "", true));
  if (tables.empty() && words.size() > 1) {
    return arrow::Status::KeyError("no table or view named ", Printable(words[1]));
  }
  std::string text;
  for (const auto& entry : tables) {
    text += Printable(entry.name) + " (" + Printable(entry.type) + ")\n";
    if (entry.columns == nullptr) continue;
    size_t width = 0;
    for (const auto& field : entry.columns->fields()) {
      width = std::max(width, DisplayWidth(Printable(field->name())));
    }
    for (const auto& field : entry.columns->fields()) {
      const std::string name = Printable(field->name());
      text += "  " + name + std::string(width - DisplayWidth(name) + 2, ' ') +
              field->type()->ToString() + (field->nullable() ? "" : " not null") + "\n";
    }
  }
  return output_.WriteText(text);
}

arrow::Status Shell::ReadFile(const std::string& path) {
  // A file that reads itself would never end.
  constexpr int kMaxDepth = 16;
  if (read_depth_ >= kMaxDepth) return arrow::Status::Invalid(".read nested over 16 deep");
  ARROW_ASSIGN_OR_RAISE(auto lines, LineReader::ForFile(path));
  ++read_depth_;
  auto status = Run(*lines, /*script=*/true);
  --read_depth_;
  return status;
}

std::string HistoryPath() {
  if (const char* path = std::getenv("ARROWPORT_HISTORY")) return path;  // "" keeps none
  const char* home = std::getenv("HOME");
  return home != nullptr && *home != '\0' ? std::string(home) + "/.arrowport_history" : "";
}

}  // namespace

CLI::App* AddSqlShell(CLI::App& app, SqlShellArgs& args) {
  auto* sql = app.add_subcommand("sql", "Interactive SQL shell (Flight SQL); -c/-f/stdin for scripts");
  sql->add_option("--server", args.server_url, "Server URL: grpc:// or grpc+tls://")
      ->envname("ARROWPORT_SERVER")
      ->default_val(kDefaultServer);
  sql->add_option("--tls-ca", args.tls_ca, "PEM file of CA certificates to trust (TLS)")
      ->envname("ARROWPORT_TLS_CA")
      ->check(CLI::ExistingFile);
  sql->add_option("-c,--command", args.commands,
                  "Run this SQL (or dot-command) and end; repeatable");
  sql->add_option("-f,--file", args.file, "Run this file and end")->check(CLI::ExistingFile);
  sql->add_option("--mode", args.mode, "How results print: table, csv, json, line")
      ->check(CLI::IsMember({"table", "csv", "json", "line"}))
      ->capture_default_str();
  AddConnectWaitOption(sql, args.connect_wait);
  sql->footer(std::string(kClientAuthHelp) + " History: ~/.arrowport_history (ARROWPORT_HISTORY).");
  return sql;
}

int RunSqlShell(const SqlShellArgs& args) {
  auto session = SqlSession::Connect(args.server_url, args.tls_ca, args.connect_wait);
  if (!session.ok()) return Fail(session.status());
  auto interrupt = InterruptSignal::Install();
  if (!interrupt.ok()) return Fail(interrupt.status());
  Shell shell(std::move(*session), interrupt->get());
  shell.output().set_mode(*ParseShellMode(args.mode));
  arrow::Status status;
  if (!args.commands.empty() || !args.file.empty()) {
    // Each -c on its own: one ends without its ';', the next may be a dot-command.
    for (size_t i = 0; i < args.commands.size() && status.ok(); ++i) {
      std::istringstream in(args.commands[i]);
      auto lines = LineReader::ForStream(&in, "-c #" + std::to_string(i + 1));
      status = shell.Run(*lines, /*script=*/true);
    }
    if (status.ok() && !args.file.empty()) {
      auto lines = LineReader::ForFile(args.file);
      status = lines.ok() ? shell.Run(**lines, /*script=*/true) : lines.status();
    }
    return status.ok() ? kOk : Fail(status);
  }
  const bool interactive = ::isatty(STDIN_FILENO) != 0;
  if (interactive) {
    std::printf("arrowport sql %s on %s (Flight SQL). .help for help; end statements with ;\n",
                ARROWPORT_VERSION, args.server_url.c_str());
    std::fflush(stdout);
  }
  auto lines = LineReader::ForStdin(interactive, interactive ? HistoryPath() : "",
                                    interrupt->get());
  status = shell.Run(*lines, /*script=*/!interactive);
  if (interactive) std::printf("\n");
  return status.ok() ? kOk : Fail(status);
}

}  // namespace arrowport::cli
