#pragma once

#include <memory>
#include <string>

#include "arrow/result.h"
#include "arrowport/objectstore/object_store.h"

namespace arrowport::objectstore {

/// \brief The store for `url`: "file:///abs/dir" (created if missing) or
/// "s3://bucket[/prefix]" with `s3`. Other schemes, relative paths: Invalid. Above the
/// stores it makes (LocalStore, S3Store), which implement object_store.h's interface.
arrow::Result<std::shared_ptr<ObjectStore>> OpenObjectStore(const std::string& url,
                                                            const S3Settings& s3);

}  // namespace arrowport::objectstore
