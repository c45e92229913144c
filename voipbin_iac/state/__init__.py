"""What lives between runs: on disk, the manifest, the apply log, the local lock, saved plans,
atomic files; on the VoIPBin account, the lease that locks it (`lease`, `leaserecords`)."""
