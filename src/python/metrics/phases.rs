//! What `request_metrics()` reports per interval, as mod_wsgi 6 aggregates
//! it (`wsgi_metrics.c`): for each phase of a request (server, queue,
//! daemon, application, whole request, GIL wait, input reads, output
//! writes) the total, the exact minimum and maximum in microseconds and a
//! 65-bucket histogram; request I/O totals; response status classes. Pure:
//! the caller holds the lock and supplies the numbers.

use crate::status::HttpStatus;

/// Histogram buckets per phase: 16 octaves from 1 ms to 65536 ms, 4 linear
/// sub-buckets each, and one for 65536 ms and over (mod_wsgi's
/// `WSGI_TELEMETRY_BUCKET_COUNT`).
pub(crate) const BUCKETS: usize = 65;

/// mod_wsgi's bucket for a duration of `us` microseconds: below 1 ms in 0;
/// `[2^k, 2^(k+1))` ms split in four equal parts at `4k..4k+3`; 65536 ms
/// and over in 64.
pub(crate) fn bucket(us: u64) -> usize {
    let ms = us as f64 / 1000.0;
    if ms < 1.0 {
        return 0;
    }
    if ms >= 65536.0 {
        return BUCKETS - 1;
    }
    // For a normal double `ms = 1.f * 2^e`: the octave is `e`, and the
    // mantissa's top two bits say which quarter of the octave (what
    // mod_wsgi computes with frexp()).
    let bits = ms.to_bits();
    let octave = ((bits >> 52) & 0x7ff) as usize - 1023;
    let quarter = ((bits >> 50) & 3) as usize;
    octave * 4 + quarter
}

/// One phase over an interval.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Phase {
    /// Seconds, summed over the interval's requests.
    pub(crate) total: f64,
    pub(crate) buckets: [u64; BUCKETS],
    /// `u64::MAX` when no request was recorded.
    pub(crate) min_us: u64,
    pub(crate) max_us: u64,
}

impl Default for Phase {
    fn default() -> Phase {
        Phase {
            total: 0.0,
            buckets: [0; BUCKETS],
            min_us: u64::MAX,
            max_us: 0,
        }
    }
}

impl Phase {
    pub(crate) fn record(&mut self, us: u64) {
        self.total += us as f64 / 1e6;
        self.min_us = self.min_us.min(us);
        self.max_us = self.max_us.max(us);
        self.buckets[bucket(us)] += 1;
    }

    /// `(min, max)` in microseconds, `None` when nothing was recorded.
    pub(crate) fn extremes(&self) -> Option<(u64, u64)> {
        (self.min_us != u64::MAX).then_some((self.min_us, self.max_us))
    }

    /// The mean in seconds over `requests` (0 for none).
    pub(crate) fn mean(&self, requests: u64) -> f64 {
        if requests == 0 {
            0.0
        } else {
            self.total / requests as f64
        }
    }
}

/// When one request passed each point, microseconds since the epoch (wall
/// clock, so that the Apache child's stamps compare with the daemon's).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stamps {
    /// Apache read the request line (`r->request_time`).
    pub(crate) request_start: u64,
    /// Daemon mode: the Apache child began handing it to the daemon (0 in
    /// embedded mode).
    pub(crate) queue_start: u64,
    /// Daemon mode: a daemon thread took it.
    pub(crate) daemon_start: u64,
    /// The WSGI application was called.
    pub(crate) application_start: u64,
}

/// What one finished request contributes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Sample {
    pub(crate) stamps: Stamps,
    /// From calling the application to the end of the response.
    pub(crate) application_us: u64,
    pub(crate) gil_wait_us: u64,
    pub(crate) gil_waits: u64,
    pub(crate) input_bytes: u64,
    pub(crate) input_reads: u64,
    pub(crate) input_read_us: u64,
    pub(crate) output_bytes: u64,
    pub(crate) output_writes: u64,
    pub(crate) output_write_us: u64,
    /// The HTTP status; none counts as 5xx (mod_wsgi's 0).
    pub(crate) status: Option<HttpStatus>,
}

/// Everything recorded since the last `request_metrics()`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Aggregates {
    pub(crate) requests: u64,
    pub(crate) server: Phase,
    pub(crate) queue: Phase,
    pub(crate) daemon: Phase,
    pub(crate) application: Phase,
    pub(crate) request: Phase,
    pub(crate) gil_wait: Phase,
    pub(crate) input_read: Phase,
    pub(crate) output_write: Phase,
    pub(crate) gil_waits: u64,
    pub(crate) input_bytes: u64,
    pub(crate) input_reads: u64,
    pub(crate) output_bytes: u64,
    pub(crate) output_writes: u64,
    /// 1xx..5xx.
    pub(crate) status: [u64; 5],
}

impl Aggregates {
    /// Adds one request (`wsgi_record_request_times`): the server phase
    /// ends when the application is called (embedded mode) or when the
    /// Apache child hands the request on (daemon mode, which adds the queue
    /// and daemon phases); negative spans count as 0.
    pub(crate) fn record(&mut self, s: &Sample, daemon: bool) {
        let t = &s.stamps;
        let (server, queue, delay) = if daemon && t.queue_start != 0 {
            (
                t.queue_start.saturating_sub(t.request_start),
                t.daemon_start.saturating_sub(t.queue_start),
                t.application_start.saturating_sub(t.daemon_start),
            )
        } else {
            (t.application_start.saturating_sub(t.request_start), 0, 0)
        };
        self.requests += 1;
        self.server.record(server);
        self.application.record(s.application_us);
        self.request
            .record(server + queue + delay + s.application_us);
        self.input_read.record(s.input_read_us);
        self.output_write.record(s.output_write_us);
        self.gil_wait.record(s.gil_wait_us);
        if daemon {
            self.queue.record(queue);
            self.daemon.record(delay);
        }
        self.gil_waits += s.gil_waits;
        self.input_bytes += s.input_bytes;
        self.input_reads += s.input_reads;
        self.output_bytes += s.output_bytes;
        self.output_writes += s.output_writes;
        let class = s.status.map_or(4, |s| usize::from(s.code() / 100 - 1));
        self.status[class] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// mod_wsgi's `wsgi_record_time_in_buckets`, with frexp() spelt out.
    fn reference(us: u64) -> usize {
        let ms = us as f64 / 1000.0;
        if ms < 1.0 {
            return 0;
        }
        if ms >= 65536.0 {
            return 64;
        }
        let mut exp = 0;
        let mut m = ms;
        while m >= 1.0 {
            m /= 2.0;
            exp += 1;
        }
        let sub = (((2.0 * m - 1.0) * 4.0) as usize).min(3);
        (exp - 1) * 4 + sub
    }

    #[test]
    fn buckets_are_mod_wsgis() {
        for us in [
            0,
            1,
            999,
            1000,
            1249,
            1250,
            1499,
            1500,
            1999,
            2000,
            2999,
            3000,
            3999,
            4000,
            65_535_999,
            65_536_000,
            1 << 40,
        ] {
            assert_eq!(bucket(us), reference(us), "{us} us");
        }
        for us in (0..70_000_000u64).step_by(9_973) {
            assert_eq!(bucket(us), reference(us), "{us} us");
        }
        assert_eq!(bucket(1000), 0);
        assert_eq!(bucket(1250), 1);
        assert_eq!(bucket(2000), 4);
        assert_eq!(bucket(65_535_999), 63);
        assert_eq!(bucket(65_536_000), 64);
    }

    #[test]
    fn phases_and_classes() {
        let mut a = Aggregates::default();
        assert_eq!(a.server.extremes(), None);
        let sample = Sample {
            stamps: Stamps {
                request_start: 1_000_000,
                queue_start: 0,
                daemon_start: 0,
                application_start: 1_002_000,
            },
            application_us: 3_000,
            status: HttpStatus::new(200),
            output_bytes: 12,
            output_writes: 1,
            ..Sample::default()
        };
        a.record(&sample, false);
        a.record(
            &Sample {
                status: None,
                ..sample
            },
            false,
        );
        a.record(
            &Sample {
                status: HttpStatus::new(404),
                ..sample
            },
            false,
        );
        assert_eq!(a.requests, 3);
        assert_eq!(a.status, [0, 1, 0, 1, 1]);
        assert_eq!(a.server.extremes(), Some((2_000, 2_000)));
        assert_eq!(a.request.extremes(), Some((5_000, 5_000)));
        assert!((a.application.mean(a.requests) - 0.003).abs() < 1e-12);
        assert_eq!(a.queue.extremes(), None, "embedded: no queue phase");
        assert_eq!(a.output_bytes, 36);

        let mut d = Aggregates::default();
        let daemon = Sample {
            stamps: Stamps {
                request_start: 10,
                queue_start: 30,
                daemon_start: 100,
                application_start: 90, // clocks disagree: clamped to 0
            },
            application_us: 5,
            status: HttpStatus::new(200),
            ..Sample::default()
        };
        d.record(&daemon, true);
        assert_eq!(d.server.extremes(), Some((20, 20)));
        assert_eq!(d.queue.extremes(), Some((70, 70)));
        assert_eq!(d.daemon.extremes(), Some((0, 0)));
        assert_eq!(d.request.extremes(), Some((95, 95)));
    }
}
