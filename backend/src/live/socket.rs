//! A second handle on each connection's TCP socket, for cutting a WebSocket client whose
//! session cannot run.
//!
//! actix-http polls a streaming response (a WebSocket session is one) only while its write
//! buffer has room, and the session actor runs only when it is polled. A client that stops
//! reading therefore freezes its session: no timer, no close. Shutting the socket from the
//! hub makes the write fail, actix-http drops the response and with it the session.

use std::any::Any;
use std::os::fd::AsFd;
use std::sync::Arc;

use actix_web::dev::Extensions;

/// The duplicated socket of a connection, in its connection data.
#[derive(Debug, Clone)]
pub struct ConnSocket(pub Arc<std::net::TcpStream>);

/// For `HttpServer::on_connect`: keeps a duplicate of the socket's descriptor with the
/// connection (closed with it). A duplicate rather than the descriptor's number, which the
/// system may give to another connection once this one is closed.
pub fn remember_socket(conn: &dyn Any, data: &mut Extensions) {
    let Some(stream) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() else {
        return;
    };
    match stream.as_fd().try_clone_to_owned() {
        Ok(fd) => {
            data.insert(ConnSocket(Arc::new(std::net::TcpStream::from(fd))));
        }
        Err(e) => tracing::warn!(error = %e, "cannot duplicate a connection's socket"),
    }
}
