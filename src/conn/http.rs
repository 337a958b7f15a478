//! The plain HTTP side of a connection: reading a request head and body, holding a
//! request for the handler, answering it, and answering an upgrade request (101 or a
//! refusal).

use super::*;

impl Connection {
    pub(super) fn read_request<R: Source>(
        &mut self,
        input: &mut Input<'_, '_, R>,
        config: &Config,
        now: Instant,
    ) -> Option<Event<'static>> {
        // The last response is still queued past the soft limit: the next request waits
        // until the peer reads it (the flush that drains the queue resumes reading).
        if self.out.pending() > config.backpressure_soft_limit {
            self.paused = true;
            self.carry = input.rbuf.take_rest();
            return None;
        }
        let State::Request(head) = &mut self.state else {
            return None;
        };
        let parsed = match input.rbuf.fill(input.src) {
            Ok([]) => return self.drop_now(Disconnect::reset()).map(Event::Closed),
            Ok(bytes) => head.push(bytes, config.max_handshake_bytes),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
            Err(_) => return self.drop_now(Disconnect::reset()).map(Event::Closed),
        };
        // A request refused before it is parsed whole is still framed for its method.
        let head_method = matches!(parsed, Parsed::Reject(..)) && head.is_head();
        match parsed {
            Parsed::Partial => None,
            Parsed::Reject(response, reason) => {
                self.respond_and_close(&response, head_method, config, now);
                let status = response.status();
                Some(Event::Rejected { status, reason })
            }
            Parsed::Http {
                mut request,
                body_len,
                tail,
                keep_alive,
            } => {
                if body_len > config.max_http_body {
                    let head_method = Framing::of(&request, false).head;
                    self.respond_and_close(&Response::status_text(413), head_method, config, now);
                    let reason = "body over max_http_body";
                    return Some(Event::Rejected {
                        status: 413,
                        reason,
                    });
                }
                request.body = tail;
                if request.body.len() < body_len {
                    let request = Box::new(request);
                    self.state = State::HttpBody {
                        request,
                        need: body_len,
                        keep_alive,
                    };
                    return None;
                }
                Some(self.hold(request, body_len, keep_alive, config, now))
            }
            Parsed::Upgrade { request, key, tail } => {
                let extensions = request.extensions();
                self.state = State::Upgrading {
                    key,
                    tail,
                    extensions,
                };
                Some(Event::Upgrade(Box::new(request)))
            }
        }
    }

    /// Reads more of a plain HTTP request's body.
    pub(super) fn read_body<R: Source>(
        &mut self,
        input: &mut Input<'_, '_, R>,
        config: &Config,
        now: Instant,
    ) -> Option<Event<'static>> {
        let State::HttpBody { request, need, .. } = &mut self.state else {
            return None;
        };
        match input.rbuf.fill(input.src) {
            Ok([]) => return self.drop_now(Disconnect::reset()).map(Event::Closed),
            Ok(bytes) => request.body.extend_from_slice(bytes),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
            Err(_) => return self.drop_now(Disconnect::reset()).map(Event::Closed),
        }
        if request.body.len() < *need {
            return None;
        }
        let State::HttpBody {
            request,
            need,
            keep_alive,
        } = std::mem::replace(&mut self.state, State::Done { unanswered: false })
        else {
            return None;
        };
        Some(self.hold(*request, need, keep_alive, config, now))
    }

    /// A whole request with its body: held for the handler. A held request waits at most
    /// the idle timeout (or, without one, what is left of the handshake timeout).
    pub(super) fn hold(
        &mut self,
        mut request: Request,
        body_len: usize,
        keep_alive: bool,
        config: &Config,
        now: Instant,
    ) -> Event<'static> {
        // Pipelined requests are not served: answer this one, then close.
        let keep_alive = keep_alive && request.body.len() == body_len;
        request.body.truncate(body_len);
        self.state = State::HttpHeld {
            framing: Framing::of(&request, keep_alive),
        };
        if let Some(idle) = config.idle_timeout {
            self.deadline = Some(now + idle);
        }
        Event::Http(Box::new(request))
    }

    /// Accepts the upgrade `Event::Upgrade` asked about: queues the 101 and opens the
    /// WebSocket, whose first frames may already be in the request's tail.
    pub(crate) fn accept(&mut self, accept: &Accept, config: &Config, now: Instant) {
        let State::Upgrading {
            key,
            tail,
            extensions,
        } = std::mem::replace(&mut self.state, State::Done { unanswered: false })
        else {
            return;
        };
        let settings = accept.deflate.unwrap_or(config.deflate);
        let deflate = match (settings, extensions) {
            (Some(settings), Some(offers)) => deflate::negotiate([offers.as_str()], &settings),
            _ => None,
        };
        let (deflate, answer) = deflate.unzip();
        let headers = request::AcceptHeaders {
            protocol: accept.protocol.as_deref(),
            extensions: answer.as_deref(),
        };
        request::write_accept(&key, headers, &mut self.out.buf);
        // Decoded by the first read, before anything the socket brings.
        self.carry = tail;
        let decoder = match deflate {
            Some(params) => Decoder::inflating(params.client_no_context_takeover),
            None => Decoder::default(),
        };
        self.state = State::Open(Box::new(Open {
            decoder,
            deflate: deflate.map(|params| {
                Box::new(Deflating {
                    params,
                    compressor: None,
                })
            }),
            closing: None,
            awaiting_pong: false,
        }));
        self.deadline = config.idle_timeout.map(|idle| now + idle);
    }

    /// Refuses the upgrade `Event::Upgrade` asked about with this response, then closes.
    pub(crate) fn refuse(&mut self, response: &Response, config: &Config, now: Instant) {
        // An upgrade request is a GET (RFC 6455 §4.2.1 item 1).
        self.respond_and_close(response, false, config, now);
    }

    /// Answers a held plain HTTP request, framed for it (a `HEAD` gets no body, however
    /// late the answer). A kept-alive connection goes back to reading the next request,
    /// with a new handshake timeout; otherwise it closes after the response. `false` if no
    /// request is held.
    pub(crate) fn respond(&mut self, response: &Response, config: &Config, now: Instant) -> bool {
        let State::HttpHeld { framing } = self.state else {
            return false;
        };
        if response.write_to(&mut self.out.buf, framing) {
            self.state = State::Request(RequestHead::default());
            self.deadline = Some(now + config.handshake_timeout);
        } else {
            self.finish(Disconnect::reset(), config, now);
        }
        true
    }

    /// Answers a request (`head`: a `HEAD` one) that is not served further, then closes.
    pub(super) fn respond_and_close(
        &mut self,
        response: &Response,
        head: bool,
        config: &Config,
        now: Instant,
    ) {
        let framing = Framing {
            head,
            keep_alive: false,
        };
        response.write_to(&mut self.out.buf, framing);
        self.finish(Disconnect::reset(), config, now);
    }

    /// While a request is held, or after our half is shut: discard what the peer sends,
    /// drop the connection at its EOF.
    pub(super) fn discard<R: Source>(&mut self, input: &mut Input<'_, '_, R>) {
        match input.rbuf.fill(input.src) {
            Ok([]) => self.end_now(),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => self.end_now(),
        }
    }

    /// Ends a connection that is not an open WebSocket (the server is stopping): with bytes
    /// queued (a response), it lingers until they are out; otherwise it is dropped now.
    pub(crate) fn end_plain(&mut self, config: &Config, now: Instant) {
        if self.is_open() {
            return;
        }
        if self.out.pending() > 0 {
            self.finish(Disconnect::reset(), config, now);
        } else {
            self.end_now();
        }
    }
}
