#!/usr/bin/python3
"""Emit the Rust constants of the migr netlink family from uapi/migr.yaml.

The kernel's ynl-gen-c.py makes the C side; this is its Rust counterpart, kept to plain
constants so that both the kernel crate (no_std, no neli) and migctl can use the same file.
Numbering follows the genetlink spec rules that ynl-gen-c.py applies: commands and attributes
count from 1 (or from `value`), flags are bit positions.
"""
import sys
import yaml


def ident(name):
    return name.upper().replace('-', '_')


def camel(name):
    return ''.join(w.capitalize() for w in name.split('-'))


# Rust keywords an entry may be named after; such variants get a trailing underscore.
KEYWORDS = {'Self'}


def enum_type(p, d):
    """A Rust enum for a spec enum (kernel side): typed values instead of bare u32s."""
    name = camel(d['name'])
    start = d.get('value-start', 0)
    p('')
    p(f'/// {d.get("doc", d["name"])} (the `{d["name"]}` enum as a type)')
    p('#[allow(non_camel_case_types)]')
    p('#[derive(Clone, Copy, PartialEq, Eq, Debug)]')
    p('#[repr(u32)]')
    p(f'pub enum {name} {{')
    variants = []
    for i, e in enumerate(d['entries']):
        e = e if isinstance(e, dict) else {'name': e}
        v = camel(e['name'])
        v = v + '_' if v in KEYWORDS else v
        variants.append((v, start + i))
        p(f'    {v} = {start + i},')
    p('}')
    p('')
    p(f'impl {name} {{')
    p('    /// The value with this number, if any.')
    p('    pub const fn from_u32(v: u32) -> Option<Self> {')
    p('        match v {')
    for v, n in variants:
        p(f'            {n} => Some(Self::{v}),')
    p('            _ => None,')
    p('        }')
    p('    }')
    p('}')


def main():
    spec_path, side = sys.argv[1], sys.argv[2]
    spec = yaml.safe_load(open(spec_path))
    out = []
    p = out.append
    p('// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause')
    p('// Do not edit: generated from uapi/migr.yaml by uapi/gen_rust.py (`make uapi`).')
    p(f'//! Constants of the `{spec["name"]}` generic netlink family ({side} side).')
    p('')
    p(f'pub const FAMILY_NAME: &str = "{spec["name"]}";')
    p(f'pub const FAMILY_VERSION: u8 = {spec.get("version", 1)};')
    for d in spec.get('definitions', []):
        if d['type'] == 'const':
            p(f'pub const {ident(d["name"])}: u32 = {d["value"]};')
        elif d['type'] in ('flags', 'enum'):
            p('')
            p(f'/// {d.get("doc", d["name"])}')
            start = d.get('value-start', 0)
            for i, e in enumerate(d['entries']):
                e = e if isinstance(e, dict) else {'name': e}
                name = f'{ident(d["name"])}_{ident(e["name"])}'
                val = (1 << (start + i)) if d['type'] == 'flags' else start + i
                ty = 'u64' if d['type'] == 'flags' else 'u32'
                p(f'pub const {name}: {ty} = {val:#x};' if d['type'] == 'flags'
                  else f'pub const {name}: {ty} = {val};')
    if side == 'kernel':
        for d in spec.get('definitions', []):
            if d['type'] == 'enum':
                enum_type(p, d)
    p('')
    p('/// Commands (genl cmd numbers).')
    val = 0
    for op in spec['operations']['list']:
        val = op.get('value', val + 1)
        p(f'pub const CMD_{ident(op["name"])}: u8 = {val};')
    for aset in spec['attribute-sets']:
        p('')
        p(f'/// Attributes of the `{aset["name"]}` set.')
        val = 0
        for a in aset['attributes']:
            val = a.get('value', val + 1)
            p(f'pub const A_{ident(aset["name"])}_{ident(a["name"])}: u16 = {val};')
    print('\n'.join(out))


if __name__ == '__main__':
    main()
