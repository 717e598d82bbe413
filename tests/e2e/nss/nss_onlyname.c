/* A glibc NSS hosts module that knows one name, "only-nss.test" -> 127.0.0.1, and nothing
 * else: what sssd, mDNS or systemd's resolve are to a host. Built by the install test
 * (tests/e2e/test_install_anywhere.py) with the host's cc into a root, named in its
 * /etc/nsswitch.conf: a client that finds the name asked the host's NSS. */
#include <errno.h>
#include <netdb.h>
#include <nss.h>
#include <string.h>
#include <arpa/inet.h>

#define ONLY_NAME "only-nss.test"

enum nss_status _nss_onlyname_gethostbyname2_r(const char *name, int af,
                                               struct hostent *result, char *buffer,
                                               size_t buflen, int *errnop, int *h_errnop) {
  if (strcmp(name, ONLY_NAME) != 0 || af != AF_INET) {
    *h_errnop = HOST_NOT_FOUND;
    return NSS_STATUS_NOTFOUND;
  }
  /* buffer: the name, the address, the address list (two pointers), the alias list. */
  size_t name_len = sizeof(ONLY_NAME);
  size_t need = name_len + sizeof(struct in_addr) + 4 * sizeof(char *) + 16;
  if (buflen < need) {
    *errnop = ERANGE;
    *h_errnop = NETDB_INTERNAL;
    return NSS_STATUS_TRYAGAIN;
  }
  char *p = buffer;
  memcpy(p, ONLY_NAME, name_len);
  result->h_name = p;
  p += name_len;
  p += (sizeof(char *) - ((size_t)p % sizeof(char *))) % sizeof(char *);
  struct in_addr *addr = (struct in_addr *)p;
  addr->s_addr = htonl(INADDR_LOOPBACK);
  p += sizeof(struct in_addr);
  p += (sizeof(char *) - ((size_t)p % sizeof(char *))) % sizeof(char *);
  char **addrs = (char **)p;
  addrs[0] = (char *)addr;
  addrs[1] = NULL;
  char **aliases = addrs + 2;
  aliases[0] = NULL;
  result->h_addrtype = AF_INET;
  result->h_length = sizeof(struct in_addr);
  result->h_addr_list = addrs;
  result->h_aliases = aliases;
  return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_onlyname_gethostbyname_r(const char *name, struct hostent *result,
                                              char *buffer, size_t buflen, int *errnop,
                                              int *h_errnop) {
  return _nss_onlyname_gethostbyname2_r(name, AF_INET, result, buffer, buflen, errnop,
                                        h_errnop);
}
