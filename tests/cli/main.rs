//! Integration tests: the real `modreg` binary in a temporary world, judged by what a
//! user would see: exit codes, output, and the tenant files and landlord themselves.

mod support;

mod catalog;
mod crash;
mod help;
mod install;
mod locks;
mod ownership;
mod rollback;
mod sandbox;
mod tenants;
mod uninstall;
mod validate;
