//! The cxx bridge: the handful of calls the runner needs, not the whole runtime.

#[cxx::bridge(namespace = "etbench")]
pub mod ffi {
    /// Outcome of a runtime call; `code` is ExecuTorch's `runtime::Error` (0 = Ok).
    #[derive(Debug, Clone)]
    struct Status {
        ok: bool,
        code: u32,
        message: String,
        elapsed_ns: u64,
    }

    #[derive(Debug, Clone)]
    struct TensorInfo {
        is_tensor: bool,
        /// ExecuTorch's `Tag` (1 = Tensor, 3 = Double, 4 = Int, 5 = Bool; -1 unknown).
        tag: i32,
        scalar_type: i32,
        sizes: Vec<i64>,
    }

    #[derive(Debug, Clone)]
    struct MethodInfo {
        status: Status,
        inputs: Vec<TensorInfo>,
        outputs: Vec<TensorInfo>,
    }

    /// The value a constant (metadata) method returns: `tag` is ExecuTorch's `Tag` of output 0 (Int 4, Double 3,
    /// Bool 5, String 2, ListInt 7, Tensor 1); integers (and an integer tensor's elements) in `ints`.
    #[derive(Debug, Clone)]
    struct ConstValue {
        status: Status,
        tag: i32,
        ints: Vec<i64>,
        double_value: f64,
        text: String,
    }

    #[derive(Debug, Clone)]
    struct TimedLoop {
        status: Status,
        latencies_ns: Vec<u64>,
    }

    unsafe extern "C++" {
        include!("runner.h");

        type EtRunner;

        fn new_runner(path: &str, load_mode: u8, profile: bool, share_arenas: bool) -> UniquePtr<EtRunner>;
        fn load_program(self: Pin<&mut EtRunner>) -> Status;
        fn method_names(self: Pin<&mut EtRunner>) -> Vec<String>;
        fn load_method(self: Pin<&mut EtRunner>, name: &str) -> Status;
        fn method_info(self: Pin<&mut EtRunner>, name: &str) -> MethodInfo;
        fn set_input(self: Pin<&mut EtRunner>, index: usize, scalar_type: i32, data: &[u8], sizes: &[i32]) -> Status;
        fn set_scalar_input(
            self: Pin<&mut EtRunner>,
            index: usize,
            tag: i32,
            int_value: i64,
            double_value: f64,
        ) -> Status;
        fn execute_timed(self: Pin<&mut EtRunner>, name: &str, iterations: u32, latencies_ns: &mut Vec<u64>) -> Status;
        fn constant_value(self: Pin<&mut EtRunner>, name: &str) -> ConstValue;
        fn num_outputs(self: &EtRunner) -> usize;
        fn output_info(self: &EtRunner, index: usize) -> TensorInfo;
        fn output_bytes(self: &EtRunner, index: usize) -> &[u8];
        fn write_etdump(self: Pin<&mut EtRunner>, path: &str) -> Status;

        fn set_thread_count(threads: u32) -> u32;
        fn thread_count() -> u32;

        fn bare_forward_loop(path: &str, warmup: u32, iterations: u32) -> TimedLoop;
        fn bare_decode_loop(path: &str, prompt: &[i64], steps: u32) -> TimedLoop;
    }
}

// Safety: `EtRunner` owns its `Module` and buffers and touches no thread-local state, so moving it to another
// thread is sound; it is not `Sync` (ExecuTorch's `Module` does no internal synchronisation).
unsafe impl Send for ffi::EtRunner {}
