#ifndef TRIPTYCH_TRANSPORT_UCX_WORKER_H_
#define TRIPTYCH_TRANSPORT_UCX_WORKER_H_

// Internal to transport/: the UCP context + worker + progress thread behind
// UcxNode, Endpoint and RegisteredMemory. Users include ucx_node.h.
//
// Thread model: the worker is created with UCS_THREAD_MODE_SINGLE and every
// UCP call (endpoint create/close, put/get/flush, mem_map, rkey unpack,
// listener callbacks, progress) runs on the one progress thread this class
// owns. Other threads hand it work through a mutex-guarded task queue and an
// eventfd, then wait on a Transfer's notification. The thread spins on
// ucp_worker_progress while transfers are in flight (and 2 ms after any
// event), otherwise sleeps in poll() on the worker's event fd
// (UCP_FEATURE_WAKEUP) and the task eventfd, at most
// UcxOptions::idle_poll_interval. A passive target node (the decode side of
// a put) thus progresses the transports that need target-side progress
// (TCP, and posix/sysv software RMA, which never signal the fd).
//
// Deadlines are enforced on the progress thread: an expired transfer fails
// its endpoint, which is force-closed (peer error handling) so that UCX
// completes every outstanding request with UCS_ERR_CANCELED before the
// caller is told kDeadlineExceeded; only then may the caller reuse its
// buffers.

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <sys/socket.h>
#include <ucp/api/ucp.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "transport/types.h"
#include "transport/ucx_options.h"

namespace triptych::transport {

class UcxWorker;

// One in-flight Put/Get/Connect. Shared between the waiting caller and the
// progress thread (which keeps it alive until every UCX request referencing
// it completed). Fields other than `done`/`result` are progress-thread only.
struct Transfer {
  enum class Kind { kPut, kGet, kConnect };
  UcxWorker* owner = nullptr;
  Kind kind = Kind::kPut;
  uint64_t ep_id = 0;
  uint64_t bytes = 0;
  int pending = 0;             // UCX requests not completed yet
  ucs_status_t status = UCS_OK;  // first request error
  absl::Time start;
  absl::Time deadline;
  bool timed_out = false;
  bool notified = false;
  absl::Status result;  // written before `done` is notified
  absl::Notification done;

  // Blocks until the progress thread finished (or abandoned) the transfer.
  absl::Status Wait();
};

// The soft locked-memory limit (RLIMIT_MEMLOCK) in bytes; nullopt when
// unlimited.
std::optional<uint64_t> LockedMemoryLimit();

// Local memory registered with ucp_mem_map.
struct MappedRegion {
  uintptr_t base = 0;
  size_t length = 0;
  ucp_mem_h memh = nullptr;
  std::string wrapped_rkey;
};

class UcxWorker {
 public:
  static absl::StatusOr<std::shared_ptr<UcxWorker>> Create(
      const UcxOptions& options);
  ~UcxWorker();  // closes endpoints (bounded wait), stops the thread

  UcxWorker(const UcxWorker&) = delete;
  UcxWorker& operator=(const UcxWorker&) = delete;

  const UcxOptions& options() const { return options_; }
  const std::string& wrapped_address() const { return wrapped_address_; }
  // UCS_MEMORY_TYPE_* bits of the memory UCX can register and move (host
  // always; CUDA / ROCm only in a UCX built with them).
  uint64_t memory_types() const { return memory_types_; }
  uint16_t listen_port() const { return listen_port_; }

  // ucp_mem_map + ucp_rkey_pack of existing memory; remembered for the
  // local-memory lookup of Put/Get.
  //
  // A region larger than the process's locked-memory limit (RLIMIT_MEMLOCK:
  // `ulimit -l`, compose's TRIPTYCH_MEMLOCK, 8 MiB in many containers) is
  // still registered: the transports we configure (tcp, shared memory, self)
  // need no pinning, so UCX maps it without pinning and one warning line on
  // stderr names the limit (RDMA transports would need it raised). When
  // ucp_mem_map fails, the error names the limit too.
  absl::StatusOr<MappedRegion> Map(void* base, size_t length);
  void Unmap(const MappedRegion& region);

  // Creates an endpoint and waits (bounded by options().connect_timeout)
  // until it is wired up. Returns its id. kUnavailable if the peer cannot be
  // reached, kInvalidArgument for malformed address bytes.
  absl::StatusOr<uint64_t> Connect(const PeerAddress& peer);
  // Drops the caller's reference: the endpoint is closed and freed.
  void Release(uint64_t ep_id);
  // True once the endpoint failed (peer death, error, timeout). Cheap.
  bool Failed(uint64_t ep_id) const;

  // Starts puts/gets + a flush on the endpoint; never blocks on the network.
  std::shared_ptr<Transfer> StartPut(uint64_t ep_id,
                                     absl::Span<const Copy> copies,
                                     const std::string& packed_rkey,
                                     absl::Duration timeout);
  std::shared_ptr<Transfer> StartGet(uint64_t ep_id,
                                     absl::Span<const GetCopy> copies,
                                     const std::string& packed_rkey,
                                     absl::Duration timeout);

  TransferStats stats() const;

 private:
  // Progress-thread-only endpoint state (except `failed`).
  struct EpState {
    UcxWorker* owner = nullptr;
    uint64_t id = 0;
    ucp_ep_h ep = nullptr;
    std::string peer;         // for error messages
    bool owned = true;        // a public Endpoint still refers to it
    bool close_started = false;
    bool closed = false;
    void* close_request = nullptr;
    int active_transfers = 0;
    ucs_status_t error = UCS_OK;
    std::shared_ptr<std::atomic<bool>> failed =
        std::make_shared<std::atomic<bool>>(false);
    absl::flat_hash_map<std::string, ucp_rkey_h> rkeys;  // by wrapped bytes
  };
  struct LocalOp {  // one put or get, validated on the calling thread
    void* local;
    uint64_t remote_addr;
    size_t length;
    ucp_mem_h memh;
  };

  explicit UcxWorker(const UcxOptions& options);
  absl::Status Init();
  void Loop();
  void Post(std::function<void()> task) ABSL_LOCKS_EXCLUDED(mu_);
  void RunSync(std::function<void()> task) ABSL_LOCKS_EXCLUDED(mu_);
  bool RunTasks() ABSL_LOCKS_EXCLUDED(mu_);

  // Validates local ranges against the registry; kInvalidArgument if any
  // lies outside registered memory.
  absl::StatusOr<std::vector<LocalOp>> Resolve(
      absl::Span<const LocalOp> ops) const ABSL_LOCKS_EXCLUDED(registry_mu_);
  std::shared_ptr<Transfer> Start(Transfer::Kind kind, uint64_t ep_id,
                                  std::vector<LocalOp> ops,
                                  const std::string& packed_rkey,
                                  absl::Duration timeout);

  // ---- progress thread only ----
  void IssueTransfer(const std::shared_ptr<Transfer>& transfer,
                     const std::vector<LocalOp>& ops,
                     const std::string& packed_rkey);
  void TrackRequest(Transfer* transfer, ucs_status_ptr_t request);
  void MaybeFinish(Transfer* transfer);
  void Finish(Transfer* transfer, absl::Status result);
  absl::Status TransferResult(const Transfer& transfer);
  void CheckDeadlines();
  void FailEndpoint(EpState* state, ucs_status_t status);
  void StartClose(EpState* state);
  void ReapClosed();
  void CreateEndpoint(const std::shared_ptr<Transfer>& transfer,
                      const std::string& peer_name,
                      const sockaddr_storage* sockaddr, socklen_t addrlen,
                      const std::string* worker_address);
  EpState* AddEndpoint(ucp_ep_params_t* params, const std::string& peer_name,
                       bool owned, ucs_status_t* status);
  void Shutdown();

  static void OnRequestDone(void* request, ucs_status_t status,
                            void* user_data);
  static void OnEndpointError(void* arg, ucp_ep_h ep, ucs_status_t status);
  static void OnConnectionRequest(ucp_conn_request_h request, void* arg);

  const UcxOptions options_;
  ucp_context_h context_ = nullptr;
  uint64_t memory_types_ = uint64_t{1} << UCS_MEMORY_TYPE_HOST;
  ucp_worker_h worker_ = nullptr;
  ucp_listener_h listener_ = nullptr;
  int worker_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: tasks queued / stop requested
  std::string wrapped_address_;
  uint16_t listen_port_ = 0;
  std::thread thread_;
  std::thread::id thread_id_;

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;

  mutable absl::Mutex registry_mu_;
  // base -> region, for the local-memory lookup of Put/Get.
  std::vector<MappedRegion> registry_ ABSL_GUARDED_BY(registry_mu_);

  mutable absl::Mutex failed_mu_;
  // ep id -> failure flag shared with the EpState; readable off-thread.
  absl::flat_hash_map<uint64_t, std::shared_ptr<std::atomic<bool>>>
      failed_flags_ ABSL_GUARDED_BY(failed_mu_);

  // Progress-thread only.
  uint64_t next_ep_id_ = 1;
  absl::flat_hash_map<uint64_t, std::unique_ptr<EpState>> endpoints_;
  absl::flat_hash_map<Transfer*, std::shared_ptr<Transfer>> active_;
  // Timed out, caller released, UCX requests still outstanding (only
  // without peer error handling). Not spun on.
  absl::flat_hash_map<Transfer*, std::shared_ptr<Transfer>> abandoned_;
  std::vector<uint64_t> to_fail_;  // endpoints failed inside UCX callbacks

  std::atomic<uint64_t> bytes_put_{0};
  std::atomic<uint64_t> bytes_got_{0};
  std::atomic<uint64_t> ops_{0};
  std::atomic<uint64_t> errors_{0};
  std::atomic<int64_t> transfer_ns_{0};
};

// getaddrinfo of host:port (AI_PASSIVE for listeners); kUnavailable when
// the name does not resolve.
absl::StatusOr<std::pair<sockaddr_storage, socklen_t>> ResolveSockaddr(
    const std::string& host, uint16_t port, bool passive);

// Maps a UCX status to the absl code a caller acts on (see kv_transport.h).
absl::Status UcsToStatus(ucs_status_t status, const std::string& context);

}  // namespace triptych::transport

#endif  // TRIPTYCH_TRANSPORT_UCX_WORKER_H_
