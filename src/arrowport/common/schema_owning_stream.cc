#include "arrowport/common/schema_owning_stream.h"

#include <vector>

#include "arrow/c/bridge.h"

namespace arrowport {

namespace {

// Wraps an exported ArrowArrayStream so that every schema handed out by get_schema stays
// owned by the stream: DuckDB's scan requests the schema several times and does not
// release every copy. Consumers get a copy whose release only marks it released; the
// originals are released with the stream.
struct SchemaOwningStream {
  ArrowArrayStream inner;
  std::vector<std::unique_ptr<ArrowSchema>> schemas;

  static int GetSchema(ArrowArrayStream* self, ArrowSchema* out) {
    auto* state = static_cast<SchemaOwningStream*>(self->private_data);
    auto schema = std::make_unique<ArrowSchema>();
    const int rc = state->inner.get_schema(&state->inner, schema.get());
    if (rc != 0) return rc;
    *out = *schema;
    out->release = [](ArrowSchema* s) { s->release = nullptr; };
    state->schemas.push_back(std::move(schema));
    return 0;
  }
  static int GetNext(ArrowArrayStream* self, ArrowArray* out) {
    auto* state = static_cast<SchemaOwningStream*>(self->private_data);
    return state->inner.get_next(&state->inner, out);
  }
  static const char* GetLastError(ArrowArrayStream* self) {
    auto* state = static_cast<SchemaOwningStream*>(self->private_data);
    return state->inner.get_last_error(&state->inner);
  }
  static void Release(ArrowArrayStream* self) {
    std::unique_ptr<SchemaOwningStream> state(static_cast<SchemaOwningStream*>(self->private_data));
    for (auto& schema : state->schemas) {
      if (schema->release) schema->release(schema.get());
    }
    if (state->inner.release) state->inner.release(&state->inner);
    self->release = nullptr;
  }

  static arrow::Status Export(std::shared_ptr<arrow::RecordBatchReader> reader,
                              ArrowArrayStream* out) {
    auto state = std::make_unique<SchemaOwningStream>();
    ARROW_RETURN_NOT_OK(arrow::ExportRecordBatchReader(std::move(reader), &state->inner));
    out->get_schema = &GetSchema;
    out->get_next = &GetNext;
    out->get_last_error = &GetLastError;
    out->release = &Release;
    out->private_data = state.release();  // owned by the C stream until Release()
    return arrow::Status::OK();
  }
};

}  // namespace

arrow::Status ExportSchemaOwningStream(std::shared_ptr<arrow::RecordBatchReader> reader,
                                       ArrowArrayStream* out) {
  return SchemaOwningStream::Export(std::move(reader), out);
}

}  // namespace arrowport
