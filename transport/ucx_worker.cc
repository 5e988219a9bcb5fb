#include "transport/ucx_worker.h"

#include <netdb.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "transport/wire_format.h"

namespace triptych::transport {
namespace {

// Grace after a deadline during which UCX must hand back the requests of a
// force-closed endpoint; past it (only possible without peer error
// handling) the caller is released and the requests are abandoned.
constexpr absl::Duration kAbandonGrace = absl::Seconds(2);
// Bound on closing endpoints when the node shuts down.
constexpr absl::Duration kShutdownGrace = absl::Seconds(2);
// Busy-progress this long after the last event before sleeping.
constexpr absl::Duration kSpinAfterActivity = absl::Milliseconds(2);

std::string KindName(Transfer::Kind kind) {
  switch (kind) {
    case Transfer::Kind::kPut:
      return "put";
    case Transfer::Kind::kGet:
      return "get";
    case Transfer::Kind::kConnect:
      return "connect";
  }
  return "?";
}

}  // namespace

absl::StatusOr<std::pair<sockaddr_storage, socklen_t>> ResolveSockaddr(
    const std::string& host, uint16_t port, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  addrinfo* result = nullptr;
  const std::string service = std::to_string(port);
  const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &result);
  if (rc != 0 || result == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "cannot resolve '", host, "': ", gai_strerror(rc)));
  }
  std::pair<sockaddr_storage, socklen_t> out{};
  std::memcpy(&out.first, result->ai_addr, result->ai_addrlen);
  out.second = result->ai_addrlen;
  freeaddrinfo(result);
  return out;
}

absl::Status UcsToStatus(ucs_status_t status, const std::string& context) {
  const std::string message =
      absl::StrCat(context, ": ", ucs_status_string(status));
  switch (status) {
    case UCS_OK:
      return absl::OkStatus();
    case UCS_ERR_INVALID_PARAM:
    case UCS_ERR_INVALID_ADDR:
    case UCS_ERR_MESSAGE_TRUNCATED:
      return absl::InvalidArgumentError(message);
    case UCS_ERR_NO_MEMORY:
    case UCS_ERR_NO_RESOURCE:
    case UCS_ERR_EXCEEDS_LIMIT:
    case UCS_ERR_OUT_OF_RANGE:
      return absl::ResourceExhaustedError(message);
    case UCS_ERR_UNSUPPORTED:
    case UCS_ERR_UNREACHABLE:
    case UCS_ERR_CANCELED:
    case UCS_ERR_ENDPOINT_TIMEOUT:
    case UCS_ERR_CONNECTION_RESET:
    case UCS_ERR_NOT_CONNECTED:
    case UCS_ERR_REJECTED:
    case UCS_ERR_IO_ERROR:
    case UCS_ERR_TIMED_OUT:
    case UCS_ERR_BUSY:
    case UCS_ERR_NO_DEVICE:
      return absl::UnavailableError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::Status Transfer::Wait() {
  // The progress thread finishes every transfer by deadline + grace; this
  // outer bound only guards against a wedged progress thread.
  const absl::Duration bound =
      deadline == absl::InfiniteFuture()
          ? absl::InfiniteDuration()
          : deadline - absl::Now() + kAbandonGrace + absl::Seconds(30);
  if (!done.WaitForNotificationWithTimeout(bound)) {
    return absl::DeadlineExceededError(
        absl::StrCat(KindName(kind), ": UCX progress thread unresponsive"));
  }
  return result;
}

UcxWorker::UcxWorker(const UcxOptions& options) : options_(options) {}

absl::StatusOr<std::shared_ptr<UcxWorker>> UcxWorker::Create(
    const UcxOptions& options) {
  std::shared_ptr<UcxWorker> worker(new UcxWorker(options));
  RETURN_IF_ERROR(worker->Init());
  return worker;
}

absl::Status UcxWorker::Init() {
  ucp_config_t* config = nullptr;
  ucs_status_t status = ucp_config_read(nullptr, nullptr, &config);
  if (status != UCS_OK) return UcsToStatus(status, "ucp_config_read");
  if (!options_.transports.empty()) {
    status = ucp_config_modify(config, "TLS", options_.transports.c_str());
    if (status != UCS_OK) {
      ucp_config_release(config);
      return absl::InvalidArgumentError(absl::StrCat(
          "bad UCX transports '", options_.transports,
          "': ", ucs_status_string(status)));
    }
  }
  if (options_.keepalive_interval > absl::ZeroDuration()) {
    const std::string value = absl::StrCat(
        absl::ToInt64Milliseconds(options_.keepalive_interval), "ms");
    status = ucp_config_modify(config, "KEEPALIVE_INTERVAL", value.c_str());
    if (status != UCS_OK) {
      ucp_config_release(config);
      return UcsToStatus(status, "UCX_KEEPALIVE_INTERVAL");
    }
  }
  ucp_params_t params{};
  params.field_mask = UCP_PARAM_FIELD_FEATURES |
                      UCP_PARAM_FIELD_MT_WORKERS_SHARED;
  params.features = UCP_FEATURE_RMA | UCP_FEATURE_WAKEUP;
  params.mt_workers_shared = 0;
  status = ucp_init(&params, config, &context_);
  ucp_config_release(config);
  if (status != UCS_OK) {
    context_ = nullptr;
    return absl::FailedPreconditionError(absl::StrCat(
        "ucp_init (transports '", options_.transports,
        "'): ", ucs_status_string(status)));
  }

  ucp_context_attr_t attr{};
  attr.field_mask = UCP_ATTR_FIELD_MEMORY_TYPES;
  if (ucp_context_query(context_, &attr) == UCS_OK)
    memory_types_ = attr.memory_types;

  ucp_worker_params_t worker_params{};
  worker_params.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
  worker_params.thread_mode = UCS_THREAD_MODE_SINGLE;
  status = ucp_worker_create(context_, &worker_params, &worker_);
  if (status != UCS_OK) {
    worker_ = nullptr;
    return UcsToStatus(status, "ucp_worker_create");
  }
  status = ucp_worker_get_efd(worker_, &worker_fd_);
  if (status != UCS_OK) return UcsToStatus(status, "ucp_worker_get_efd");
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return absl::InternalError("eventfd failed");

  ucp_address_t* address = nullptr;
  size_t address_length = 0;
  status = ucp_worker_get_address(worker_, &address, &address_length);
  if (status != UCS_OK) return UcsToStatus(status, "ucp_worker_get_address");
  if (address_length == 0 || address_length > kMaxWirePayloadBytes) {
    ucp_worker_release_address(worker_, address);
    return absl::InternalError("UCX worker address of unexpected size");
  }
  wrapped_address_ = WrapWorkerAddress(std::string_view(
      reinterpret_cast<const char*>(address), address_length));
  ucp_worker_release_address(worker_, address);

  if (!options_.listen_host.empty()) {
    ASSIGN_OR_RETURN(auto listen_addr, ResolveSockaddr(options_.listen_host,
                                                       options_.listen_port,
                                                       /*passive=*/true));
    ucp_listener_params_t listener_params{};
    listener_params.field_mask = UCP_LISTENER_PARAM_FIELD_SOCK_ADDR |
                                 UCP_LISTENER_PARAM_FIELD_CONN_HANDLER;
    listener_params.sockaddr.addr =
        reinterpret_cast<const sockaddr*>(&listen_addr.first);
    listener_params.sockaddr.addrlen = listen_addr.second;
    listener_params.conn_handler.cb = &UcxWorker::OnConnectionRequest;
    listener_params.conn_handler.arg = this;
    status = ucp_listener_create(worker_, &listener_params, &listener_);
    if (status != UCS_OK) {
      listener_ = nullptr;
      return absl::UnavailableError(absl::StrCat(
          "ucp_listener_create on ", options_.listen_host, ":",
          options_.listen_port, ": ", ucs_status_string(status)));
    }
    ucp_listener_attr_t attr{};
    attr.field_mask = UCP_LISTENER_ATTR_FIELD_SOCKADDR;
    status = ucp_listener_query(listener_, &attr);
    if (status != UCS_OK) return UcsToStatus(status, "ucp_listener_query");
    if (attr.sockaddr.ss_family == AF_INET) {
      listen_port_ = ntohs(
          reinterpret_cast<const sockaddr_in*>(&attr.sockaddr)->sin_port);
    } else if (attr.sockaddr.ss_family == AF_INET6) {
      listen_port_ = ntohs(
          reinterpret_cast<const sockaddr_in6*>(&attr.sockaddr)->sin6_port);
    }
  }

  thread_ = std::thread([this] { Loop(); });
  thread_id_ = thread_.get_id();  // read only by callers after Create()
  return absl::OkStatus();
}

UcxWorker::~UcxWorker() {
  if (thread_.joinable()) {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
    thread_.join();
  } else if (worker_ != nullptr) {
    Shutdown();  // Init failed after the worker existed; no thread runs.
  }
  if (worker_ != nullptr) ucp_worker_destroy(worker_);
  if (context_ != nullptr) ucp_cleanup(context_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

void UcxWorker::Post(std::function<void()> task) {
  {
    absl::MutexLock lock(&mu_);
    tasks_.push_back(std::move(task));
  }
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

void UcxWorker::RunSync(std::function<void()> task) {
  if (std::this_thread::get_id() == thread_id_) {
    task();
    return;
  }
  absl::Notification done;
  Post([&task, &done] {
    task();
    done.Notify();
  });
  done.WaitForNotification();
}

bool UcxWorker::RunTasks() {
  std::deque<std::function<void()>> tasks;
  bool stop;
  {
    absl::MutexLock lock(&mu_);
    tasks.swap(tasks_);
    stop = stop_;
  }
  for (auto& task : tasks) task();
  return stop;
}

void UcxWorker::Loop() {
  absl::Time last_activity = absl::Now();
  const int idle_poll_ms = std::max<int>(
      1, static_cast<int>(absl::ToInt64Milliseconds(
             options_.idle_poll_interval)));
  for (;;) {
    if (RunTasks()) break;
    unsigned events = 0;
    for (unsigned n; (n = ucp_worker_progress(worker_)) != 0;) events += n;
    std::vector<uint64_t> failed;
    failed.swap(to_fail_);
    for (uint64_t id : failed) {
      auto it = endpoints_.find(id);
      if (it != endpoints_.end()) StartClose(it->second.get());
    }
    CheckDeadlines();
    ReapClosed();
    const absl::Time now = absl::Now();
    if (events != 0 || !active_.empty() || !to_fail_.empty()) {
      last_activity = now;
    }
    // Spin while transfers are in flight and shortly after any event: a
    // burst of puts (one per layer) keeps the worker hot on both sides.
    if (now - last_activity < kSpinAfterActivity) continue;
    {
      absl::MutexLock lock(&mu_);
      if (!tasks_.empty() || stop_) continue;
    }
    const ucs_status_t armed = ucp_worker_arm(worker_);
    if (armed == UCS_ERR_BUSY) continue;
    pollfd fds[2] = {{worker_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    // Not every UCX 1.13 transport signals the worker fd (a passive
    // posix/sysv target of software-emulated RMA does not), so the sleep is
    // bounded by idle_poll_interval: the latency of the first message after
    // idleness on such transports. TCP and task posts wake it at once.
    if (poll(fds, 2, idle_poll_ms) > 0) last_activity = absl::Now();
    uint64_t drained;
    (void)!read(wake_fd_, &drained, sizeof(drained));
  }
  Shutdown();
}

void UcxWorker::Shutdown() {
  if (listener_ != nullptr) {
    ucp_listener_destroy(listener_);
    listener_ = nullptr;
  }
  for (auto& [id, state] : endpoints_) {
    state->owned = false;
    state->failed->store(true);
    StartClose(state.get());
  }
  const absl::Time deadline = absl::Now() + kShutdownGrace;
  while (!endpoints_.empty() && absl::Now() < deadline) {
    ucp_worker_progress(worker_);
    ReapClosed();
  }
  // Endpoints that would not close in time are left to ucp_worker_destroy.
  for (auto& [id, state] : endpoints_) {
    for (auto& [bytes, rkey] : state->rkeys) ucp_rkey_destroy(rkey);
    state->rkeys.clear();
  }
  for (auto& [ptr, transfer] : active_) {
    Finish(ptr, absl::UnavailableError("UCX node shut down"));
  }
}

std::optional<uint64_t> LockedMemoryLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_MEMLOCK, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) {
    return std::nullopt;
  }
  return static_cast<uint64_t>(limit.rlim_cur);
}

namespace {

std::string MemlockText(std::optional<uint64_t> limit) {
  return limit.has_value() ? absl::StrCat(*limit, " bytes") : std::string("unlimited");
}

}  // namespace

absl::StatusOr<MappedRegion> UcxWorker::Map(void* base, size_t length) {
  if (base == nullptr || length == 0) {
    return absl::InvalidArgumentError("Register: empty memory range");
  }
  const std::optional<uint64_t> memlock = LockedMemoryLimit();
  if (memlock.has_value() && length > *memlock) {
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true)) {
      std::fprintf(stderr,
                   "ucx: registering %zu bytes above the locked-memory limit (%s; ulimit -l, "
                   "TRIPTYCH_MEMLOCK in deploy/compose): mapped without pinning, which tcp and "
                   "shared-memory transports need no more than; RDMA transports need the limit "
                   "raised\n",
                   length, MemlockText(memlock).c_str());
    }
  }
  absl::StatusOr<MappedRegion> result;
  RunSync([&] {
    ucp_mem_map_params_t params{};
    params.field_mask =
        UCP_MEM_MAP_PARAM_FIELD_ADDRESS | UCP_MEM_MAP_PARAM_FIELD_LENGTH;
    params.address = base;
    params.length = length;
    ucp_mem_h memh = nullptr;
    ucs_status_t status = ucp_mem_map(context_, &params, &memh);
    if (status != UCS_OK) {
      result = absl::ResourceExhaustedError(
          absl::StrCat("ucp_mem_map of ", length, " bytes: ", ucs_status_string(status),
                       " (locked-memory limit ", MemlockText(memlock),
                       "; raise it with ulimit -l or TRIPTYCH_MEMLOCK)"));
      return;
    }
    void* packed = nullptr;
    size_t packed_size = 0;
    status = ucp_rkey_pack(context_, memh, &packed, &packed_size);
    if (status != UCS_OK || packed_size == 0 ||
        packed_size > kMaxWirePayloadBytes) {
      if (status == UCS_OK) ucp_rkey_buffer_release(packed);
      ucp_mem_unmap(context_, memh);
      result = absl::InternalError(absl::StrCat(
          "ucp_rkey_pack: ", ucs_status_string(status), ", ", packed_size,
          " bytes"));
      return;
    }
    MappedRegion region;
    region.base = reinterpret_cast<uintptr_t>(base);
    region.length = length;
    region.memh = memh;
    region.wrapped_rkey = WrapRkey(
        region.base, length,
        std::string_view(static_cast<const char*>(packed), packed_size));
    ucp_rkey_buffer_release(packed);
    result = std::move(region);
  });
  if (result.ok()) {
    absl::MutexLock lock(&registry_mu_);
    registry_.push_back(*result);
  }
  return result;
}

void UcxWorker::Unmap(const MappedRegion& region) {
  {
    absl::MutexLock lock(&registry_mu_);
    for (auto it = registry_.begin(); it != registry_.end(); ++it) {
      if (it->memh == region.memh) {
        registry_.erase(it);
        break;
      }
    }
  }
  RunSync([&] { ucp_mem_unmap(context_, region.memh); });
}

absl::StatusOr<std::vector<UcxWorker::LocalOp>> UcxWorker::Resolve(
    absl::Span<const LocalOp> ops) const {
  std::vector<LocalOp> out;
  out.reserve(ops.size());
  absl::MutexLock lock(&registry_mu_);
  for (const LocalOp& op : ops) {
    if (op.length == 0) continue;
    const uintptr_t local = reinterpret_cast<uintptr_t>(op.local);
    const MappedRegion* found = nullptr;
    for (const MappedRegion& region : registry_) {
      if (local >= region.base && op.length <= region.length &&
          local - region.base <= region.length - op.length) {
        found = &region;
        break;
      }
    }
    if (found == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "local range [", local, ", +", op.length,
          ") is not inside memory registered with this node"));
    }
    LocalOp resolved = op;
    resolved.memh = found->memh;
    out.push_back(resolved);
  }
  return out;
}

}  // namespace triptych::transport
