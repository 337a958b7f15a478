#[test]
fn scratch() {
    let data = std::fs::read(std::env::var("FUZZ_INPUT").unwrap()).unwrap();
    match std::env::var("FUZZ_TARGET").as_deref() {
        Ok("http_request") => wsreactor::fuzz::request::run(&data),
        _ => wsreactor::fuzz::connection::run(&data),
    }
}
