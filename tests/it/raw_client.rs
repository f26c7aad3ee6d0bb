//! A bare QUIC client for tests that must send what the SDK never would: chosen request ids,
//! repeated ids, raw bytes. It pins the server's certificate like the SDK and reads the reply
//! stream frame by frame.

use std::net::SocketAddr;
use std::time::Duration;

use dominion_net::proto::{ClientMessage, FrameDecoder, ServerMessage};
use dominion_net::transport::tls::{Fingerprint, pinned_client_config};

/// One connection with its request stream.
pub struct RawClient {
    /// The connection (for close codes).
    pub conn: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    decoder: FrameDecoder,
    _endpoint: quinn::Endpoint,
}

impl RawClient {
    /// Connects and opens the request stream.
    pub async fn connect(server: SocketAddr, fp: Fingerprint) -> RawClient {
        let endpoint = quinn::Endpoint::client((std::net::Ipv4Addr::LOCALHOST, 0).into())
            .expect("client endpoint");
        let (config, _) = pinned_client_config(fp).expect("client config");
        let conn = endpoint
            .connect_with(
                config,
                server,
                dominion_net::transport::tls::DEFAULT_SERVER_NAME,
            )
            .expect("connect")
            .await
            .expect("handshake");
        let (send, recv) = conn.open_bi().await.expect("request stream");
        RawClient {
            conn,
            send,
            recv,
            decoder: FrameDecoder::new(16 * 1024 * 1024),
            _endpoint: endpoint,
        }
    }

    /// Sends `message` with request id `id`.
    pub async fn send(&mut self, message: impl Into<ClientMessage>, id: u32) {
        let frame = message.into().encode_frame(id).expect("encode");
        self.send_bytes(&frame).await;
    }

    /// Sends raw bytes on the request stream.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.send.write_all(bytes).await.expect("write");
    }

    /// The next frame on the reply stream, or `None` if none arrives within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<(u32, ServerMessage)> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(frame) = self.decoder.next_frame() {
                let f = frame.expect("server frames are well formed");
                let m = ServerMessage::decode(f.msg_type, &f.body).expect("server message decodes");
                return Some((f.request_id, m));
            }
            match tokio::time::timeout_at(deadline, self.recv.read_chunk(usize::MAX, true)).await {
                Ok(Ok(Some(chunk))) => self.decoder.feed(&chunk.bytes),
                _ => return None,
            }
        }
    }

    /// Reads replies until one with `id` arrives (panics after `wait`).
    pub async fn reply_to(&mut self, id: u32, wait: Duration) -> ServerMessage {
        loop {
            match self.next(wait).await {
                Some((got, m)) if got == id => return m,
                Some(_) => continue,
                None => panic!("no reply to request {id} within {wait:?}"),
            }
        }
    }
}
