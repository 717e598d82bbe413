#include "arrowport/common/secret_text.h"

#include <gtest/gtest.h>

namespace arrowport {
namespace secret_text_test {

// The attack on issue 64's change: a world-readable config started though its init_sql
// or its DuckLake catalog held a password in a form the detector did not know.
TEST(SecretText, PasswordsAndKeysAreKnownByTheirForm) {
  for (const std::string text : {
           "ATTACH 'postgresql://alice:hunter2@127.0.0.1:1/db' AS pg (TYPE postgres)",
           "SET azure_storage_connection_string='DefaultEndpointsProtocol=https;"
           "AccountName=a;AccountKey=c2VjcmV0'",
           "CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')",
           "SET s3_session_token = 'x'",
           "postgres:postgresql://127.0.0.1:1/db?p%61ssword=hunter2",
           "postgres:host=db password = x",
           "mysql://root:pw@db/x"}) {
    EXPECT_TRUE(HoldsSecret(text)) << text;
  }
  for (const std::string text : {"SET threads = 4", "LOAD httpfs",
                                 "ATTACH 'postgresql://alice@db/lake' AS pg",
                                 "sqlite:/var/lib/lake.sqlite"}) {
    EXPECT_FALSE(HoldsSecret(text)) << text;
  }
  EXPECT_TRUE(HoldsPassword("postgres:postgresql://u@h/db?sslmode=require&password=x"));
  EXPECT_TRUE(HoldsPassword("postgres:postgresql://127.0.0.1:1/db?p%61ssword=hunter2"));
  EXPECT_TRUE(HoldsPassword("postgres:postgresql://lake:hunter2@db/lake"));
  EXPECT_FALSE(HoldsPassword("postgres:host=db dbname=lake passfile=/run/pgpass"));
  EXPECT_FALSE(HoldsPassword("postgres:postgresql://lake@db/lake"));
}

// The attack on that fix: the text was percent-decoded before it was matched, so a
// password whose escapes decode to a character the match stops at ('/' of base64, ' ',
// '\'') was missed, as was libpq's sslpassword keyword: a world-readable config holding
// them started.
TEST(SecretText, PasswordsWithEscapesAndEveryLibpqPasswordKeywordAreKnown) {
  for (const std::string text : {
           "postgres:postgresql://ap:s3%2Fcret@127.0.0.1:1/lake",
           "postgres:postgresql://ap:c2Vj%2BcmV0%2F%3D%3D@db/lake",
           "postgres:postgresql://ap:two%20words@db/lake",
           "postgres:postgres://ap:it%27s@db/lake",
           "postgres:postgresql://ap:it's a pass@db/lake",
           "postgres:postgresql://:only-a-password@db/lake",
           "postgres:host=127.0.0.1 dbname=lake user=ap sslpassword=s3cret",
           "postgres:postgresql://ap@db/lake?sslpassword=s3cret",
           "postgres:host=db oauth_client_secret=s3cret"}) {
    EXPECT_TRUE(HoldsPassword(text)) << text;
    EXPECT_TRUE(HoldsSecret(text)) << text;
  }
  EXPECT_TRUE(HoldsSecret("ATTACH 'postgresql://ap:s3%2Fcret@db/x' AS pg (TYPE postgres)"));
  for (const std::string text : {"postgres:postgresql://ap@db:5432/lake?sslmode=require",
                                 "postgres:postgresql://db:5432/lake",
                                 "postgres:host=db user=ap sslkey=/etc/k sslcert=/etc/c"}) {
    EXPECT_FALSE(HoldsPassword(text)) << text;
  }
}

}  // namespace secret_text_test
}  // namespace arrowport
