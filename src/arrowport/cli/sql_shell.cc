#include "arrowport/cli/sql_shell.h"

#include <CLI/CLI.hpp>
#include <langinfo.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <optional>
#include <cctype>
#include <chrono>
#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "arrow/record_batch.h"
#include "arrow/table.h"
#include "arrow/type.h"
#include "arrowport/cli/client_options.h"
#include "arrowport/cli/exit_status.h"
#include "arrowport/cli/line_reader.h"
#include "arrowport/cli/progress.h"
#include "arrowport/cli/query_progress.h"
#include "arrowport/cli/sql_output.h"
#include "arrowport/cli/sql_session.h"
#include "arrowport/cli/sql_statements.h"
#include "arrowport/cli/terminal_text.h"
#include "arrowport/common/version.h"

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

std::vector<std::string> Words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string word; in >> word;) words.push_back(word);
  // `.tables;`: a habit from statements.
  if (!words.empty() && words.back().size() > 1 && words.back().back() == ';') {
    words.back().pop_back();
  }
  return words;
}

class Shell {
 public:
  explicit Shell(std::unique_ptr<SqlSession> session) : session_(std::move(session)) {}

  ShellOutput& output() { return output_; }
  /// From Ctrl-C's thread: cancels the statement running now if Ctrl-C number `count`
  /// came after it started (that thread may run late: a Ctrl-C at the prompt must not
  /// cancel the statement typed next).
  void CancelFor(int64_t count) {
    if (count > statement_start_.load()) session_->Cancel();
  }
  void set_interrupt(InterruptSignal* interrupt) { interrupt_ = interrupt; }

  /// Reads `lines` to their end (or .quit). A script's first error (or Ctrl-C) ends it.
  arrow::Status Run(LineReader& lines);

 private:
  arrow::Status Execute(const std::string& sql);
  arrow::Status Interrupted(const arrow::Status& status) const;
  arrow::Status DotCommand(const std::string& line);
  arrow::Status ListTables(const std::vector<std::string>& words);
  arrow::Status ShowSchema(const std::vector<std::string>& words);
  arrow::Status ReadFile(const std::string& path);
  arrow::Status EndOfInput(StatementSplitter& splitter, const LineReader& lines,
                           int64_t statement_line);
  // A script stops at `status` (an error, with where it was); a person is told and goes
  // on. Ctrl-C also drops what else was typed on the line.
  arrow::Status Report(const arrow::Status& status, const LineReader& lines, int64_t line) {
    if (status.ok()) return status;
    if (!lines.interactive()) {  // the message as said, its details done with
      return arrow::Status(status.code(), ErrorText(status) + " (" + lines.Where(line) + ")");
    }
    std::fprintf(stderr, "Error: %s\n", ForTerminal(ErrorText(status), STDERR_FILENO).c_str());
    drop_rest_ = status.IsCancelled();
    return arrow::Status::OK();
  }

  std::unique_ptr<SqlSession> session_;
  InterruptSignal* interrupt_ = nullptr;
  // Ctrl-C's count when the running statement started; none running: the largest.
  std::atomic<int64_t> statement_start_{std::numeric_limits<int64_t>::max()};
  ShellOutput output_;
  bool timer_ = false;
  bool quit_ = false;
  bool drop_rest_ = false;
  int read_depth_ = 0;
};

arrow::Status Shell::Run(LineReader& lines) {
  StatementSplitter splitter;
  std::string line;
  int64_t statement_line = 0;  // where the pending statement starts
  while (!quit_) {
    auto outcome = lines.Read(splitter.pending() ? kContinuation : kPrompt, &line);
    // Ctrl-C during a script's read, whether or not it cut the read short (a signal may
    // land on a read that resumes): the script ends, its pending statement unrun.
    if (!lines.interactive() && interrupt_ != nullptr && interrupt_->Take()) {
      outcome = LineReader::Outcome::kInterrupted;
    }
    if (outcome == LineReader::Outcome::kInterrupted) {
      if (!lines.interactive()) return arrow::Status::Cancelled("interrupted (Ctrl-C)");
      splitter.Reset();
      continue;
    }
    if (outcome == LineReader::Outcome::kFailed) return arrow::Status::IOError(lines.failure());
    if (outcome == LineReader::Outcome::kEnd) return EndOfInput(splitter, lines, statement_line);
    if (!splitter.pending() && IsDotCommand(line)) {
      lines.Remember(line);
      auto done = DotCommand(line);
      if (done.ok() && interrupt_ != nullptr && interrupt_->Take()) {
        done = arrow::Status::Cancelled("interrupted (Ctrl-C)");
      }
      ARROW_RETURN_NOT_OK(Report(done, lines, lines.line_number()));
      continue;
    }
    if (!splitter.pending() && !splitter.unterminated()) statement_line = lines.line_number();
    splitter.Feed(line);
    drop_rest_ = false;
    for (const auto& sql : splitter.TakeComplete()) {
      lines.Remember(sql + ";");
      ARROW_RETURN_NOT_OK(Report(Execute(sql), lines, statement_line));
      statement_line = lines.line_number();
      if (drop_rest_) {  // Ctrl-C: the rest of what was typed or pasted is not run
        splitter.Reset();
        break;
      }
    }
  }
  return arrow::Status::OK();
}

arrow::Status Shell::EndOfInput(StatementSplitter& splitter, const LineReader& lines,
                                int64_t statement_line) {
  if (lines.interactive()) {
    // Ctrl-D with a statement half typed: it is not run (a DELETE waiting for its WHERE).
    if (splitter.pending() || splitter.unterminated()) {
      std::fprintf(stderr, "(the unfinished statement was not run: end statements with ;)\n");
    }
    return arrow::Status::OK();
  }
  if (splitter.unterminated()) {
    return arrow::Status::Invalid("the script ends inside a quote or a /* comment opened in "
                                  "the statement starting at ",
                                  lines.Where(statement_line), "; nothing of it was run");
  }
  // A script may end without its last ';': that statement runs too.
  if (splitter.pending()) {
    return Report(Execute(splitter.TakePending()), lines, statement_line);
  }
  return arrow::Status::OK();
}

arrow::Status Shell::Execute(const std::string& sql) {
  const auto started = std::chrono::steady_clock::now();
  statement_start_ = InterruptSignal::count();
  // A statement still running after a second says so on the terminal (stderr): for how
  // long, and before its first rows how far DuckDB says its query has come.
  std::optional<Progress> running(std::in_place, "running", /*counts=*/false,
                                  std::chrono::milliseconds(1000));
  std::optional<QueryProgressPoller> poller;
  if (running->shown()) {
    auto ask = [this](const std::string& body) { return session_->QueryProgress(body); };
    poller.emplace(std::move(ask), &*running);
  }
  auto rows = [&]() -> arrow::Result<int64_t> {
    ARROW_ASSIGN_OR_RAISE(auto reader,
                          session_->Execute(sql, poller ? poller->key() : std::string()));
    // Gone before the first rows print.
    if (poller) {
      reader = poller->UntilFirstRows(std::move(reader), [&] { running->Stop(); });
    }
    // A statement without a result (CREATE, SET) answers with no columns: nothing to show.
    if (reader->schema()->num_fields() == 0) {
      ARROW_RETURN_NOT_OK(reader->ToTable().status());
      return 0;
    }
    return output_.Write(reader.get());
  }();
  poller.reset();
  running.reset();
  statement_start_ = std::numeric_limits<int64_t>::max();
  if (interrupt_ != nullptr && interrupt_->Take()) return Interrupted(rows.status());
  ARROW_RETURN_NOT_OK(rows);
  if (timer_) {
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
    std::fprintf(stderr, "Run Time: %.3f s\n", took.count());
  }
  return arrow::Status::OK();
}

arrow::Status Shell::Interrupted(const arrow::Status& status) const {
  if (session_->CancelledWhileReading()) return arrow::Status::Cancelled("cancelled");
  // Ctrl-C came while the server was in the call that plans the statement (Flight SQL's
  // GetFlightInfo, which runs a statement without rows whole): Arrow's C++ client cannot
  // cut that call short, so the statement ran to its end, or failed on its own.
  if (!status.ok() && !status.IsCancelled()) return status;
  return arrow::Status::Cancelled(
      "interrupted, but the statement had already run to its end on the server (a "
      "statement without rows to return, such as CREATE TABLE AS or INSERT, runs inside "
      "the call that plans it, which this client cannot cut short)");
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
  if (words.size() > 2) {
    return arrow::Status::Invalid(Printable(command), " takes at most one argument");
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

// Whether `entry` is what `.schema NAME` names: its name or schema.name, in any case
// (as DuckDB resolves an unquoted name).
bool Names(const SqlTable& entry, const std::string& name) {
  const auto same = [](const std::string& a, const std::string& b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) ==
                    std::tolower(static_cast<unsigned char>(y));
           });
  };
  return same(entry.name, name) || same(entry.schema + "." + entry.name, name);
}

std::string QualifiedName(const SqlTable& entry) {
  const bool main = entry.schema.empty() || entry.schema == "main";
  return Printable(main ? entry.name : entry.schema + "." + entry.name);
}

arrow::Status Shell::ListTables(const std::vector<std::string>& words) {
  ARROW_ASSIGN_OR_RAISE(auto tables,
                        session_->Tables(words.size() > 1 ? words[1] : "", false));
  TextTable table({"name", "type"});
  for (const auto& entry : tables) table.Add({QualifiedName(entry), entry.type});
  return output_.WriteText(table.Render(output_.limits(), /*count_line=*/false));
}

arrow::Status Shell::ShowSchema(const std::vector<std::string>& words) {
  ARROW_ASSIGN_OR_RAISE(auto listed, session_->Tables("", true));
  std::vector<SqlTable> tables;
  for (auto& entry : listed) {
    if (words.size() == 1 || Names(entry, words[1])) tables.push_back(std::move(entry));
  }
  if (tables.empty() && words.size() > 1) {
    return arrow::Status::KeyError("no table or view named ", Printable(words[1]));
  }
  std::string text;
  for (const auto& entry : tables) {
    text += QualifiedName(entry) + " (" + Printable(entry.type) + ")\n";
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
  auto status = Run(*lines);
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

// Runs -c's texts, then -f's file; each -c on its own (one may end without its ';',
// the next may be a dot-command).
arrow::Status RunScripts(Shell& shell, const SqlShellArgs& args) {
  for (size_t i = 0; i < args.commands.size(); ++i) {
    std::istringstream in(args.commands[i]);
    auto lines = LineReader::ForStream(&in, "-c #" + std::to_string(i + 1));
    ARROW_RETURN_NOT_OK(shell.Run(*lines));
  }
  if (args.file.empty()) return arrow::Status::OK();
  ARROW_ASSIGN_OR_RAISE(auto lines, LineReader::ForFile(args.file));
  return shell.Run(*lines);
}

// libedit reads keys in the locale's character set: in the C locale of a process that
// never set one it dropped every byte over 0x7F, so 'José' typed ran as 'Jos'. The
// terminal's locale, else UTF-8 (what DuckDB and Arrow hold text in).
void UseTerminalCharacters() {
  const char* chosen = std::setlocale(LC_CTYPE, "");
  const std::string codeset = chosen != nullptr ? nl_langinfo(CODESET) : "";
  if (codeset != "UTF-8" && std::setlocale(LC_CTYPE, "C.UTF-8") == nullptr) {
    (void)std::setlocale(LC_CTYPE, "C.utf8");
  }
}

int RunSqlShell(const SqlShellArgs& args) {
  UseTerminalCharacters();
  // Ctrl-C goes to this (the main) thread: the threads gRPC starts while connecting, and
  // the one that cancels, are made with it blocked. Else a read at the prompt would not
  // see it.
  sigset_t interrupt_only, before;
  sigemptyset(&interrupt_only);
  sigaddset(&interrupt_only, SIGINT);
  ::pthread_sigmask(SIG_BLOCK, &interrupt_only, &before);
  auto session = SqlSession::Connect(args.server_url, args.tls_ca, args.connect_wait);
  if (!session.ok()) return Fail(session.status());
  Shell shell(std::move(*session));
  auto interrupt = InterruptSignal::Install([&shell](int64_t count) { shell.CancelFor(count); });
  ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
  if (!interrupt.ok()) return Fail(interrupt.status());
  shell.set_interrupt(interrupt->get());
  shell.output().set_mode(*ParseShellMode(args.mode));
  arrow::Status status;
  const bool interactive = ::isatty(STDIN_FILENO) != 0;
  if (!args.commands.empty() || !args.file.empty()) {
    status = RunScripts(shell, args);
  } else {
    if (interactive) {
      std::printf("arrowport sql %s on %s (Flight SQL). .help for help; end statements with ;\n",
                  arrowport::Version(), args.server_url.c_str());
      std::fflush(stdout);
    }
    auto lines = LineReader::ForStdin(interactive, interactive ? HistoryPath() : "",
                                      interrupt->get());
    status = shell.Run(*lines);
    if (interactive) std::printf("\n");
  }
  // A script stopped by Ctrl-C ends as a shell's interrupted command does.
  constexpr int kInterruptedExit = 130;
  if (status.IsCancelled()) return Fail(status, kInterruptedExit);
  return status.ok() ? kOk : Fail(status);
}

}  // namespace arrowport::cli
