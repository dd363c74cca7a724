//! Many requests in one exchange: the answers to pipelined requests, by
//! sequence number, and what one round of an nf_tables batch of element
//! additions decided for each of its requests.
//!
//! This module owns that bookkeeping, as pure code: the backend sends N
//! messages in one `send`, each with its own sequence number, and feeds
//! every datagram the kernel answers with to [`Answers`] until each has
//! its answer, in whatever order they come.
//!
//! An nf_tables batch is one transaction: every message is processed,
//! each error (and each acknowledgement asked for with `NLM_F_ACK`) is
//! queued with its own message's header, and if any message failed the
//! whole batch is aborted and then the queued answers are delivered
//! (`nfnetlink_rcv_batch()`, net/netfilter/nfnetlink.c). So an
//! acknowledgement of 0 in a failed batch does not mean the element was
//! added. [`settle`] reads one round's answers: the requests whose
//! messages failed get their own error, and the others are tried again
//! in a batch of their own. A failure of the transaction itself (its
//! commit, or no memory for the answers) is acknowledged with the batch's
//! begin message's header, for none of the requests in particular.

use super::message::{messages, Message, WireError, NLMSG_DONE};
use nix::errno::Errno;
use std::collections::HashMap;

/// The kernel's answer to one message: `Ok(Some(payload))` for data,
/// `Ok(None)` for an acknowledgement (or the end of a dump), `Err` for a
/// refusal.
pub type Answer = Result<Option<Vec<u8>>, Errno>;

/// The answers to pipelined messages, collected by sequence number.
#[derive(Debug)]
pub struct Answers {
    /// Which slot each message's sequence number fills.
    slots: HashMap<u32, usize>,
    answers: Vec<Option<Answer>>,
    /// Which slots are answered only on an error (messages sent without
    /// `NLM_F_ACK`).
    unasked: Vec<bool>,
    missing: usize,
    /// The begin message of an nf_tables batch, whose sequence number
    /// carries an error of the whole transaction.
    batch_begin: Option<u32>,
    /// That error, if it came.
    batch_error: Option<Errno>,
}

impl Answers {
    /// Awaits one answer for each of `seqs`, in that order.
    pub fn new(seqs: &[u32]) -> Self {
        let messages: Vec<(u32, bool)> = seqs.iter().map(|&s| (s, true)).collect();
        Self::for_messages(&messages)
    }

    /// Collects the answers to `messages` (sequence number, and whether
    /// it asked for an acknowledgement), in that order: complete once
    /// each that asked has its answer. One that did not ask is answered
    /// only if it failed; the kernel sends a batch's answers in the order
    /// of its messages, so such an error comes before the acknowledgement
    /// of any later message.
    pub fn for_messages(messages: &[(u32, bool)]) -> Self {
        Answers {
            slots: messages
                .iter()
                .enumerate()
                .map(|(i, &(s, _))| (s, i))
                .collect(),
            answers: vec![None; messages.len()],
            unasked: messages.iter().map(|&(_, asked)| !asked).collect(),
            missing: messages.iter().filter(|&&(_, asked)| asked).count(),
            batch_begin: None,
            batch_error: None,
        }
    }

    /// Also watches `seq`, a batch's begin message, for an error of the
    /// whole transaction; once one comes, nothing more is awaited.
    pub fn with_batch_begin(mut self, seq: u32) -> Self {
        self.batch_begin = Some(seq);
        self
    }

    /// Takes in one datagram from the kernel; messages for other sequence
    /// numbers (stale answers to an earlier exchange) are skipped.
    pub fn feed(&mut self, datagram: &[u8]) -> Result<(), WireError> {
        for msg in messages(datagram) {
            let msg: Message<'_> = msg?;
            if Some(msg.seq) == self.batch_begin {
                if let Some(code) = msg.error_code().filter(|&c| c != 0) {
                    self.batch_error = Some(Errno::from_raw(code));
                }
                continue;
            }
            let Some(&slot) = self.slots.get(&msg.seq) else {
                continue;
            };
            if self.answers[slot].is_some() {
                continue;
            }
            self.answers[slot] = Some(match msg.error_code() {
                Some(0) => Ok(None),
                Some(code) => Err(Errno::from_raw(code)),
                None if msg.msg_type == NLMSG_DONE => Ok(None),
                None => Ok(Some(msg.payload.to_vec())),
            });
            if !self.unasked[slot] {
                self.missing -= 1;
            }
        }
        Ok(())
    }

    /// Whether every awaited answer came (or the whole batch failed).
    pub fn complete(&self) -> bool {
        self.missing == 0 || self.batch_error.is_some()
    }

    /// The error of the whole transaction, if the kernel sent one.
    pub fn batch_error(&self) -> Option<Errno> {
        self.batch_error
    }

    /// The answers, in the order of the messages given; one that never
    /// came is `None`, except for a message that did not ask: once the
    /// answers are complete, its silence is its success.
    pub fn into_answers(self) -> Vec<Option<Answer>> {
        let complete = self.missing == 0;
        self.answers
            .into_iter()
            .zip(self.unasked)
            .map(|(answer, unasked)| match answer {
                None if unasked && complete => Some(Ok(None)),
                answer => answer,
            })
            .collect()
    }
}

/// What one round of a batch of element additions decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Round {
    /// The batch committed: every request's elements were added.
    Committed,
    /// The batch was aborted: `failed` requests (by index) were refused
    /// with their own message's error; `retry` are the others, none of
    /// whose elements stayed, to send again without the failed ones.
    Aborted {
        /// Requests refused, each with its first error.
        failed: Vec<(usize, Errno)>,
        /// Requests to try again in a new batch.
        retry: Vec<usize>,
    },
    /// The transaction failed as a whole (`errno`), or an answer never
    /// came: no request is to blame, none was added.
    Unattributed(Option<Errno>),
}

/// Reads one round's answers: `answers[m]` is the answer to message `m`,
/// which belongs to request `owner[m]` (a request may own several
/// messages: its map and its `delivered` set); `requests` is how many
/// requests the batch held (indices `0..requests`).
pub fn settle(
    answers: &[Option<Answer>],
    owner: &[usize],
    requests: usize,
    batch_error: Option<Errno>,
) -> Round {
    if let Some(errno) = batch_error {
        return Round::Unattributed(Some(errno));
    }
    if answers.iter().any(Option::is_none) {
        return Round::Unattributed(None);
    }
    let mut errors: Vec<Option<Errno>> = vec![None; requests];
    for (answer, &request) in answers.iter().zip(owner) {
        if let Some(Err(errno)) = answer {
            errors[request].get_or_insert(*errno);
        }
    }
    if errors.iter().all(Option::is_none) {
        return Round::Committed;
    }
    let (failed, retry): (Vec<_>, Vec<_>) = errors
        .into_iter()
        .enumerate()
        .partition(|(_, e)| e.is_some());
    Round::Aborted {
        failed: failed
            .into_iter()
            .filter_map(|(i, e)| e.map(|e| (i, e)))
            .collect(),
        retry: retry.into_iter().map(|(i, _)| i).collect(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::message::{MessageBuilder, NLMSG_ERROR};
    use super::*;

    /// An NLMSG_ERROR answering `seq` with `errno` (0: an acknowledgement).
    pub(crate) fn error_for(seq: u32, errno: i32) -> Vec<u8> {
        let mut buf = Vec::new();
        buf.extend_from_slice(&36u32.to_ne_bytes());
        buf.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        buf.extend_from_slice(&0u16.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&(-errno).to_ne_bytes());
        // The echoed request header.
        buf.extend_from_slice(&[0; 16]);
        buf
    }

    #[test]
    fn answers_out_of_order_fill_their_own_slots() {
        let mut answers = Answers::new(&[10, 11, 12]);
        let data = MessageBuilder::new(Vec::new(), 0x100, 0, 12, 2, 0).finish();
        answers.feed(&data).unwrap();
        assert!(!answers.complete());
        answers.feed(&error_for(99, 2)).unwrap(); // stale: skipped
        answers.feed(&error_for(10, 2)).unwrap();
        answers.feed(&error_for(11, 0)).unwrap();
        assert!(answers.complete());
        let got = answers.into_answers();
        assert_eq!(got[0], Some(Err(Errno::ENOENT)));
        assert_eq!(got[1], Some(Ok(None)));
        assert_eq!(got[2], Some(Ok(Some(vec![2, 0, 0, 0]))));
    }

    #[test]
    fn an_unasked_message_is_answered_only_by_its_error() {
        // Two requests of two messages each; only each one's last asks.
        let messages = [(20, false), (21, true), (22, false), (23, true)];
        let mut answers = Answers::for_messages(&messages);
        answers.feed(&error_for(22, libc::ENFILE)).unwrap();
        answers.feed(&error_for(21, 0)).unwrap();
        assert!(!answers.complete());
        answers.feed(&error_for(23, 0)).unwrap();
        assert!(answers.complete());
        let got = answers.into_answers();
        assert_eq!(
            got,
            [
                Some(Ok(None)),
                Some(Ok(None)),
                Some(Err(Errno::ENFILE)),
                Some(Ok(None))
            ]
        );
        assert_eq!(
            settle(&got, &[0, 0, 1, 1], 2, None),
            Round::Aborted {
                failed: vec![(1, Errno::ENFILE)],
                retry: vec![0],
            }
        );
    }

    #[test]
    fn a_batch_error_ends_the_wait() {
        let mut answers = Answers::new(&[5, 6]).with_batch_begin(4);
        answers.feed(&error_for(4, 12)).unwrap();
        assert!(answers.complete());
        assert_eq!(answers.batch_error(), Some(Errno::ENOMEM));
    }

    #[test]
    fn a_failed_element_is_its_own_requests_only() {
        // Three requests of two messages each (map, delivered set); the
        // second request's map element exists already.
        let owner = [0, 0, 1, 1, 2, 2];
        let answers = [
            Some(Ok(None)),
            Some(Ok(None)),
            Some(Err(Errno::EEXIST)),
            Some(Ok(None)),
            Some(Ok(None)),
            Some(Ok(None)),
        ];
        assert_eq!(
            settle(&answers, &owner, 3, None),
            Round::Aborted {
                failed: vec![(1, Errno::EEXIST)],
                retry: vec![0, 2],
            }
        );
        let ok: Vec<Option<Answer>> = vec![Some(Ok(None)); 6];
        assert_eq!(settle(&ok, &owner, 3, None), Round::Committed);
        assert_eq!(
            settle(&ok, &owner, 3, Some(Errno::ENOMEM)),
            Round::Unattributed(Some(Errno::ENOMEM))
        );
        let mut lost = ok.clone();
        lost[3] = None;
        assert_eq!(settle(&lost, &owner, 3, None), Round::Unattributed(None));
    }
}
