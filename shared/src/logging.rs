/// JSON-lines logs on stderr, which Spin and the native host both collect. Safe to call more than
/// once: later calls keep the first subscriber.
pub fn init() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(std::io::stderr)
        .try_init();
}
