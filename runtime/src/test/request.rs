//! The client's opening handshake: the upgrade request, and checking the server's answer.

use std::pin::Pin;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ws_controller_protocol::deflate::{accept_answer, client_offer, DeflateConfig, DeflateParams};
use ws_controller_protocol::handshake::{accept_key, client_key};

use super::client::TestClient;
use super::{Io, TestError, TestServer};

/// The most of a response head the client reads.
const MAX_HEAD: usize = 64 << 10;

/// An upgrade request being built: headers, subprotocols, compression. Made by
/// [`TestServer::request`].
///
/// ```
/// # use ws_controller::test::TestServer;
/// # async fn run(server: TestServer) -> Result<(), ws_controller::test::TestError> {
/// let client = server
///     .request("/chat/lobby")
///     .header("authorization", "Bearer secret")
///     .subprotocols(["chat.v2"])
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[must_use = "a request does nothing until `connect` is awaited"]
pub struct TestRequest<'a> {
    server: &'a TestServer,
    path: String,
    headers: HeaderMap,
    compression: Option<DeflateConfig>,
    error: Option<String>,
}

impl<'a> TestRequest<'a> {
    pub(super) fn new(server: &'a TestServer, path: &str) -> Self {
        Self {
            server,
            path: path.to_owned(),
            headers: HeaderMap::new(),
            compression: None,
            error: None,
        }
    }

    /// Adds a header (an invalid name or value makes `connect` fail with
    /// [`TestError::Handshake`]).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(name), Ok(value)) => {
                self.headers.append(name, value);
            }
            _ => self.error = Some(format!("invalid header {name}: {value}")),
        }
        self
    }

    /// Adds every header of `headers`.
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        for (name, value) in headers {
            if let Some(name) = name {
                self.headers.append(name, value);
            }
        }
        self
    }

    /// Offers these subprotocols, most preferred first.
    pub fn subprotocols<I, S>(self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let list: Vec<String> = protocols
            .into_iter()
            .map(|p| p.as_ref().to_owned())
            .collect();
        self.header("sec-websocket-protocol", &list.join(", "))
    }

    /// Offers permessage-deflate with `config` (for example [`DeflateConfig::lean`]).
    pub fn compression(mut self, config: DeflateConfig) -> Self {
        self.compression = Some(config);
        self
    }

    /// Performs the handshake.
    pub async fn connect(self) -> Result<TestClient, TestError> {
        if let Some(error) = self.error {
            return Err(TestError::Handshake(error));
        }
        let stream = self.server.open_stream().await?;
        let timeout = super::DEFAULT_TIMEOUT;
        let handshake = handshake(stream, &self.path, self.headers, self.compression);
        match tokio::time::timeout(timeout, handshake).await {
            Err(_) => Err(TestError::Timeout(timeout)),
            Ok(result) => result,
        }
    }
}

async fn handshake(
    mut stream: Pin<Box<dyn Io>>,
    path: &str,
    headers: HeaderMap,
    compression: Option<DeflateConfig>,
) -> Result<TestClient, TestError> {
    let key = client_key();
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\
         sec-websocket-version: 13\r\nsec-websocket-key: {key}\r\n"
    )
    .into_bytes();
    if let Some(config) = &compression {
        request.extend_from_slice(
            format!("sec-websocket-extensions: {}\r\n", client_offer(config)).as_bytes(),
        );
    }
    for (name, value) in &headers {
        request.extend_from_slice(name.as_str().as_bytes());
        request.extend_from_slice(b": ");
        request.extend_from_slice(value.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    stream.write_all(&request).await?;

    let (response, rest) = read_head(&mut stream).await?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        let body = read_body(&mut stream, response.headers(), rest).await?;
        let (parts, ()) = response.into_parts();
        return Err(TestError::Refused {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
    let expected = accept_key(key.as_bytes());
    let accept = response.headers().get(http::header::SEC_WEBSOCKET_ACCEPT);
    if accept.map(HeaderValue::as_bytes) != Some(expected.as_bytes()) {
        return Err(TestError::Handshake("wrong Sec-WebSocket-Accept".into()));
    }
    let params = negotiated(&response, compression.as_ref())?;
    Ok(TestClient::new(stream, response, params, rest))
}

/// The permessage-deflate parameters the server answered with, checked against the offer.
fn negotiated(
    response: &http::Response<()>,
    offered: Option<&DeflateConfig>,
) -> Result<Option<DeflateParams>, TestError> {
    let Some(answer) = response
        .headers()
        .get(http::header::SEC_WEBSOCKET_EXTENSIONS)
    else {
        return Ok(None);
    };
    let Some(offered) = offered else {
        return Err(TestError::Handshake(
            "the server answered an extension that was not offered".into(),
        ));
    };
    accept_answer(answer.as_bytes(), offered)
        .map(Some)
        .map_err(|err| TestError::Handshake(err.to_string()))
}

/// Reads the response head; returns it and the bytes read past it.
async fn read_head(
    stream: &mut Pin<Box<dyn Io>>,
) -> Result<(http::Response<()>, Vec<u8>), TestError> {
    let mut buf = Vec::with_capacity(1024);
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let response = parse_head(&buf[..end + 4])?;
            return Ok((response, buf[end + 4..].to_vec()));
        }
        if buf.len() > MAX_HEAD {
            return Err(TestError::Handshake("response head too large".into()));
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(TestError::Handshake(
                "connection closed during the handshake".into(),
            ));
        }
    }
}

fn parse_head(head: &[u8]) -> Result<http::Response<()>, TestError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut headers);
    let bad = |what: &str| TestError::Handshake(format!("invalid response head: {what}"));
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(bad("incomplete")),
        Err(err) => return Err(bad(&err.to_string())),
    }
    let status = StatusCode::from_u16(parsed.code.unwrap_or(0)).map_err(|_| bad("status"))?;
    let mut response = http::Response::new(());
    *response.status_mut() = status;
    for header in parsed.headers.iter() {
        let name = HeaderName::try_from(header.name).map_err(|_| bad("header name"))?;
        let value = HeaderValue::try_from(header.value).map_err(|_| bad("header value"))?;
        response.headers_mut().append(name, value);
    }
    Ok(response)
}

/// A refusal's body: `Content-Length` bytes, or until the server closes (bounded).
async fn read_body(
    stream: &mut Pin<Box<dyn Io>>,
    headers: &HeaderMap,
    mut body: Vec<u8>,
) -> Result<Vec<u8>, TestError> {
    let length = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let limit = length.unwrap_or(MAX_HEAD).min(MAX_HEAD);
    while body.len() < limit {
        let read = tokio::time::timeout(Duration::from_secs(1), stream.read_buf(&mut body)).await;
        match read {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(_)) => {}
            Ok(Err(err)) => return Err(err.into()),
        }
    }
    body.truncate(limit);
    Ok(body)
}
