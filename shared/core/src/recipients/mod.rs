//! Recipients parsed at the edge: handlers only ever see [`PhoneNumber`], [`EmailAddress`] and [`PostalAddress`].

mod address;
mod email;
mod phone;

pub use address::{AddressError, PostalAddress, PostalZone};
pub use email::{EmailAddress, InvalidEmail};
pub use phone::{PhoneError, PhoneNumber};
