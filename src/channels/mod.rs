//! Customer channels: the wire formats of the services customers reach the front desk
//! through. Each submodule turns its service's requests into typed values and renders replies
//! in its format; none of them decides what to say.

pub mod twilio;
