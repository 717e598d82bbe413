#include "arrowport/common/random_id.h"

#include <sys/random.h>

#include <cerrno>
#include <stdexcept>

#include "arrowport/common/text_util.h"

namespace arrowport {

std::string RandomId() {
  unsigned char bytes[16];
  size_t filled = 0;
  while (filled < sizeof(bytes)) {
    const ssize_t got = getrandom(bytes + filled, sizeof(bytes) - filled, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      // No kernel entropy source: no handle may be made from anything guessable.
      throw std::runtime_error("getrandom failed: cannot make an unguessable id");
    }
    filled += static_cast<size_t>(got);
  }
  return HexText(std::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

}  // namespace arrowport
