//! A small HTTP/1.1 client for the admin API (hyper over a plain TCP connection, one request
//! per connection): sends the bearer token, returns the status and the JSON body.

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header;
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// Where the admin API is and the token to present.
#[derive(Clone, Debug)]
pub struct AdminClient {
    /// The admin API's address.
    pub addr: SocketAddr,
    /// Bearer token.
    pub token: String,
    /// Longest wait for a whole exchange.
    pub timeout: Duration,
}

/// What came back.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The JSON body (`Null` when empty or not JSON).
    pub body: Value,
}

/// Why no answer came.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached or the exchange failed.
    #[error("admin API at {addr} unreachable: {message}")]
    Unreachable {
        /// Where.
        addr: SocketAddr,
        /// What happened.
        message: String,
    },
    /// The server answered with an error status.
    #[error("refused with status {status}: {body}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The body.
        body: String,
    },
}

impl AdminClient {
    /// A client for `addr` presenting `token`.
    pub fn new(addr: SocketAddr, token: impl Into<String>) -> AdminClient {
        AdminClient {
            addr,
            token: token.into(),
            timeout: Duration::from_secs(30),
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Answer, ClientError> {
        self.send("GET", path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Answer, ClientError> {
        self.send("POST", path, Some(body)).await
    }

    /// One request; answers with the JSON body (`Null` when empty or not JSON).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, ClientError> {
        let (status, raw) = self.exchange(method, path, body).await?;
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Ok(Answer { status, body })
    }

    /// `GET path` for a binary body; an answer other than 200 is an error carrying its body.
    pub async fn get_bytes(&self, path: &str) -> Result<Vec<u8>, ClientError> {
        let (status, raw) = self.exchange("GET", path, None).await?;
        if status == 200 {
            Ok(raw)
        } else {
            Err(ClientError::Refused {
                status,
                body: String::from_utf8_lossy(&raw).into_owned(),
            })
        }
    }

    /// One request; `token` may be empty (no Authorization header). Returns status and body.
    async fn exchange(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Vec<u8>), ClientError> {
        let unreachable = |message: String| ClientError::Unreachable {
            addr: self.addr,
            message,
        };
        let exchange = async {
            let stream = tokio::net::TcpStream::connect(self.addr)
                .await
                .map_err(|e| unreachable(e.to_string()))?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| unreachable(e.to_string()))?;
            tokio::spawn(conn);
            let mut request = hyper::Request::builder()
                .method(method)
                .uri(path)
                .header(header::HOST, self.addr.to_string());
            if !self.token.is_empty() {
                request = request.header(header::AUTHORIZATION, format!("Bearer {}", self.token));
            }
            let bytes = match body {
                Some(v) => {
                    request = request.header(header::CONTENT_TYPE, "application/json");
                    Bytes::from(v.to_string())
                }
                None => Bytes::new(),
            };
            let request = request
                .body(Full::new(bytes))
                .map_err(|e| unreachable(format!("building the request: {e}")))?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| unreachable(e.to_string()))?;
            let status = response.status().as_u16();
            let raw = response
                .into_body()
                .collect()
                .await
                .map_err(|e| unreachable(e.to_string()))?
                .to_bytes();
            Ok((status, raw.to_vec()))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or_else(|_| Err(unreachable(format!("no answer within {:?}", self.timeout))))
    }
}
