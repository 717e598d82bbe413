#include "arrowport/storage/core/duckdb_error.h"

#include <duckdb.h>
#include <gtest/gtest.h>

#include <string>

#include "arrowport/common/principal.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/storage/database/database.h"

namespace arrowport::storage {
namespace duckdb_error_test {

// "already exists" reached clients as NOT_FOUND (KeyError), the code of what is missing.
// DuckDB's own words (extension/parquet/reader/variant/variant_binary_decoder.cpp).
TEST(TranslateDuckDBErrorTest, AMalformedVariantIsToldApartFromOtherIOErrors) {
  EXPECT_TRUE(IsMalformedVariant(
      TranslateDuckDBError(-1, "IO Error: Corrupted VARIANT 'metadata' buffer")));
  EXPECT_FALSE(IsMalformedVariant(
      TranslateDuckDBError(-1, "IO Error: Could not read from file \"x.parquet\"")));
  EXPECT_FALSE(IsMalformedVariant(
      TranslateDuckDBError(-1, "Invalid Input Error: Corrupted VARIANT in a string")));
}

TEST(TranslateDuckDBErrorTest, WhatAlreadyExistsIsAlreadyExistsNotMissing) {
  for (const char* exists : {"Catalog Error: Table with name \"t\" already exists!",
                             "Catalog Error: Schema with name s already exists!",
                             "Catalog Error: View with name v already exists"}) {
    EXPECT_TRUE(TranslateDuckDBError(DUCKDB_ERROR_CATALOG, exists).IsAlreadyExists()) << exists;
  }
  // Missing stays KeyError, whatever a quoted name says.
  for (const char* missing :
       {"Catalog Error: Table with name t does not exist!",
        "Catalog Error: Table with name \"x already exists\" does not exist!"}) {
    EXPECT_TRUE(TranslateDuckDBError(DUCKDB_ERROR_CATALOG, missing).IsKeyError()) << missing;
  }
}

// An internal error's message reached clients with DuckDB's stack trace in it: library
// paths and the load addresses of the server's code.
TEST(TranslateDuckDBErrorTest, AnInternalErrorsStackTraceIsNotPassedOn) {
  const std::string message =
      "INTERNAL Error: Scalar function \"__cast\" threw\n\nStack Trace:\n\n"
      "/usr/lib/libduckdb.so.2.0(_ZN6duckdb9Exception+0x70) [0x7f2d32f660b0]\n"
      "/work/arrowport(+0x2eab29) [0x7f2d392eab29]\n\n"
      "This error signals an assertion failure within DuckDB.";
  const auto status = TranslateDuckDBError(DUCKDB_ERROR_INTERNAL, message);
  EXPECT_EQ(status.message().find("0x7f"), std::string::npos) << status.ToString();
  EXPECT_EQ(status.message().find("Stack Trace"), std::string::npos) << status.ToString();
  EXPECT_NE(status.message().find("threw"), std::string::npos) << status.ToString();
  EXPECT_NE(status.message().find("assertion failure"), std::string::npos) << status.ToString();
}

TEST(TranslateDuckDBErrorTest, ACommitThatFailedForMemoryIsNoConflictToRetry) {
  // Found by a hostile run: told "retryable conflict", a client retried at once in vain.
  auto memory = TranslateDuckDBError(
      DUCKDB_ERROR_TRANSACTION,
      "TransactionContext Error: Failed to commit: could not allocate block of size 91.5 MiB");
  EXPECT_TRUE(HasErrorKind(memory, ErrorKind::kResourceExhausted)) << memory;
  // The buffer manager's other refusals, as a commit words them (an attack run: told
  // "retryable conflict", the retry failed the same way).
  for (const char* words : {"failed to pin block of size 256.0 KiB (1.6 MiB/1.9 MiB used)",
                            "failed to allocate data of size 4.0 MiB (1.9 MiB/1.9 MiB used)"}) {
    auto refused = TranslateDuckDBError(
        DUCKDB_ERROR_TRANSACTION,
        std::string("TransactionContext Error: Failed to commit: ") + words);
    EXPECT_TRUE(HasErrorKind(refused, ErrorKind::kResourceExhausted)) << refused;
  }
  auto conflict = TranslateDuckDBError(
      DUCKDB_ERROR_TRANSACTION, "TransactionContext Error: Catalog write-write conflict");
  EXPECT_TRUE(HasErrorKind(conflict, ErrorKind::kRetryableConflict)) << conflict;
}

// A client's statement DuckDB refuses as it stands was an internal error (HTTP 500):
// DuckDB's own errors, from real statements.
TEST(TranslateDuckDBErrorTest, SequenceAndDependencyErrorsAreTheClients) {
  DatabaseOptions options;
  options.path = ":memory:";
  auto database = Database::Open(options);
  ASSERT_TRUE(database.ok()) << database.status();
  auto conn = (*database)->Connect();
  ASSERT_TRUE(conn.ok()) << conn.status();
  for (const char* setup : {"CREATE SEQUENCE s MAXVALUE 2", "CREATE SEQUENCE used",
                            "CREATE TABLE u (x INT DEFAULT nextval('used'))"}) {
    const auto done = (*conn)->Execute(setup);
    ASSERT_TRUE(done.ok()) << setup << ": " << done;
  }
  for (const char* sql : {"SELECT currval('s')", "SELECT nextval('s') FROM range(3)",
                          "DROP SEQUENCE used"}) {
    const auto refused = (*conn)->Execute(sql);
    EXPECT_TRUE(refused.IsInvalid()) << sql << ": " << refused;
  }
  // With no type given (a prepare's error), by DuckDB's words.
  EXPECT_TRUE(TranslateDuckDBError(-1, "Sequence Error: currval: sequence is not yet "
                                       "defined in this session").IsInvalid());
  EXPECT_TRUE(TranslateDuckDBError(-1, "Object Size Error: Cannot create a string of "
                                       "size 5000000000").IsInvalid());
}

// A commit that failed on the database's files (the WAL in a directory the server may not
// write: a hostile run's message; a full disk) fails every retry alike: it is the
// server's failure, never a conflict to retry (clients retried forever).
TEST(TranslateDuckDBErrorTest, ACommitThatFailedOnTheDatabaseFilesIsTheServersFailure) {
  for (const char* cause :
       {"Cannot open file \"/d/x.duckdb.wal\": Permission denied",
        "Could not fsync file \"/d/x.duckdb.wal\": Input/output error",
        "Could not read file \"/d/x.duckdb\": Input/output error",
        "Could not flush file handle to disk!", "Could not truncate file \"/d/x.duckdb.wal\"",
        "Could not seek to location 12 for file \"/d/x.duckdb\"",
        "Failed to create directory \"/d/x.duckdb.tmp\": Permission denied"}) {
    auto failed = TranslateDuckDBError(
        DUCKDB_ERROR_TRANSACTION, std::string("TransactionContext Error: Failed to commit: ") + cause);
    EXPECT_TRUE(failed.IsIOError()) << failed;
    EXPECT_EQ(GetErrorKind(failed), nullptr) << failed;
    EXPECT_NE(failed.message().find("cannot use its database files"), std::string::npos)
        << failed;
  }
  // Conflicts stay retryable, whatever text quoted from data or SQL they hold, and so does
  // a failure that clears by itself.
  for (const char* conflict :
       {"TransactionContext Error: Catalog write-write conflict on \"Failed to commit: Cannot "
        "open file\"",
        "TransactionContext Error: Failed to commit: PRIMARY KEY or UNIQUE constraint "
        "violation: Duplicate key \"request_id: Cannot open file\"",
        "TransactionContext Error: Failed to commit: write-write conflict on key \"Could not "
        "write\"",
        // Out of descriptors (a hostile run): the next request succeeded.
        "TransactionContext Error: Failed to commit: Cannot open file \"/d/x.duckdb.wal\": "
        "Too many open files"}) {
    auto retryable = TranslateDuckDBError(DUCKDB_ERROR_TRANSACTION, conflict);
    EXPECT_TRUE(HasErrorKind(retryable, ErrorKind::kRetryableConflict)) << retryable;
  }
}

// A full disk met by DuckDB, in a commit or a write of its files, is the typed disk-full
// kind (Flight RESOURCE_EXHAUSTED, HTTP 507), not an internal error; the same words quoted
// from data in another error are not. A statement that met the database a full disk
// invalidated before it is told to retry (the server reopens it): it was told disk full
// until the server's upkeep saw the invalidation, reads included (an attack run).
TEST(TranslateDuckDBErrorTest, AFullDiskIsTheDiskFullKind) {
  const std::pair<int, const char*> full[] = {
      {DUCKDB_ERROR_TRANSACTION,
       "TransactionContext Error: Failed to commit: Could not write file "
       "\"/d/x.duckdb.wal\": No space left on device"},
      {DUCKDB_ERROR_IO, "IO Error: Could not write file \"/d/x.duckdb\": No space left on device"},
      {-1, "IO Error: Could not truncate file \"/d/x.duckdb.wal\": No space left on device"}};
  for (const auto& [type, message] : full) {
    auto st = TranslateDuckDBError(type, message);
    EXPECT_TRUE(HasErrorKind(st, ErrorKind::kDiskFull)) << st;
    EXPECT_NE(st.message().find("disk full"), std::string::npos) << st;
  }
  auto invalidated = TranslateDuckDBError(
      DUCKDB_ERROR_FATAL,
      "FATAL Error: Failed: database has been invalidated because of a previous fatal error. "
      "Original error: \"Could not write file \"/d/x.duckdb\": Disk quota exceeded\"");
  EXPECT_TRUE(HasErrorKind(invalidated, ErrorKind::kServerBusy)) << invalidated;
  EXPECT_NE(invalidated.message().find("Disk quota exceeded"), std::string::npos);
  EXPECT_NE(invalidated.message().find("retry"), std::string::npos);
  // The database's catalog, invalidated by the checkpoint that failed.
  auto catalog = TranslateDuckDBError(
      DUCKDB_ERROR_IO, "IO Error: Database \"d\" has been invalidated because checkpointing "
                       "failed. Original error: No space left on device");
  EXPECT_TRUE(HasErrorKind(catalog, ErrorKind::kServerBusy)) << catalog;
  // With no type given (a prepare's error has only its words), and as an internal error.
  for (const char* words :
       {"FATAL Error: Failed: database has been invalidated because of a previous fatal "
        "error. Original error: \"Could not write file \"/d/x.duckdb\": No space left on "
        "device\"",
        "INTERNAL Error: Failed: database has been invalidated because of a previous fatal "
        "error. Original error: \"No space left on device\""}) {
    auto untyped = TranslateDuckDBError(-1, words);
    EXPECT_TRUE(HasErrorKind(untyped, ErrorKind::kServerBusy)) << untyped;
  }
  // Client text saying so in another kind of error is that error.
  auto said = TranslateDuckDBError(DUCKDB_ERROR_INVALID_INPUT,
                                   "Invalid Input Error: the database has been invalidated");
  EXPECT_TRUE(said.IsInvalid()) << said;
  auto quoted = TranslateDuckDBError(
      DUCKDB_ERROR_CONSTRAINT, "Constraint Error: Duplicate key \"k: No space left on device\"");
  EXPECT_FALSE(HasErrorKind(quoted, ErrorKind::kDiskFull)) << quoted;
  EXPECT_TRUE(quoted.IsInvalid()) << quoted;
}

TEST(CommittedDespiteErrorTest, OnlyDuckDBsOwnWordsCount) {
  constexpr const char* kDurable =
      "Transaction COMMIT succeeded and is durable, but the autocheckpoint failed.";
  EXPECT_TRUE(CommittedDespiteError(std::string("FATAL Error: ") + kDurable + " Reopen ..."));
  EXPECT_TRUE(CommittedDespiteError(kDurable));
  // Text from SQL or from data quotes the words, it does not open with them.
  EXPECT_FALSE(CommittedDespiteError(std::string("Constraint Error: Duplicate key \"id: ") +
                                     kDurable));
  EXPECT_FALSE(CommittedDespiteError(std::string("Constraint Error: Duplicate key \"") +
                                     kDurable));
  // A client's SQL is never taken for committed, whatever error it raises.
  DatabaseOptions options;
  options.path = ":memory:";
  auto db = Database::Open(options).ValueOrDie();
  auto conn = db->Connect().ValueOrDie();
  Principal admin;
  admin.user = "ada";
  admin.role = Role::kAdmin;
  EXPECT_FALSE(conn->ExecuteUpdate(std::string("SELECT error('") + kDurable + "')", admin).ok());
}

}  // namespace duckdb_error_test
}  // namespace arrowport::storage
