//! A request body is a [`Readable`] and a response a [`Writable`], so
//! [`pipe`](crate::pipe()) streams between them and sockets.

use super::{Request, Response};
use crate::pipe::{Flow, Readable, Reader, Writable};
use crate::{ListenerId, Loop, Result};

impl Readable for Request {
    fn read_into(&self, f: Reader) -> Vec<ListenerId> {
        let (data, end, error) = (f.clone(), f.clone(), f);
        vec![
            self.on_data(move |lp, _, bytes| data.deliver(lp, Flow::Data(bytes))),
            self.on_end(move |lp, _| end.deliver(lp, Flow::End)),
            self.on_error(move |lp, _, e| error.deliver(lp, Flow::Failed(e))),
        ]
    }

    fn pause(&self) {
        Request::pause(self);
    }

    fn resume(&self) {
        Request::resume(self);
    }

    /// The rest of the body is not wanted: the server discards it (or
    /// closes the connection) once the response is over.
    fn abort(&self) {
        Request::pause(self);
    }

    fn off(&self, id: ListenerId) -> bool {
        Request::off(self, id)
    }
}

impl Writable for Response {
    fn write_chunk(&self, data: &[u8]) -> Result<bool> {
        self.write(data)
    }

    fn on_writable(&self, mut f: Box<dyn FnMut(&Loop)>) -> ListenerId {
        self.on_drain(move |lp, _| f(lp))
    }

    fn on_gone(&self, mut f: Box<dyn FnMut(&Loop)>) -> ListenerId {
        self.on_close(move |lp, _| f(lp))
    }

    fn finish(&self) -> Result<()> {
        self.end("")
    }

    fn abort(&self) {
        self.destroy();
    }

    fn off(&self, id: ListenerId) -> bool {
        Response::off(self, id)
    }
}
