//! shmkit's derives, re-exported by the `shmkit` crate: `#[derive(shmkit::Pod,
//! shmkit::Zeroable)]` on your own `#[repr(C)]` struct makes it a type that queues,
//! values, arrays and pipes carry by copying its bytes, with no dependency but `shmkit`.
//!
//! They check, at compile time, what makes such a copy sound: the struct is `#[repr(C)]`
//! or `#[repr(transparent)]`, every field is itself plain data, and there is no padding
//! (add explicit `_pad` fields so that every byte belongs to a field). The traits they
//! implement are bytemuck's `Pod` and `Zeroable`, which `shmkit` re-exports.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{parse_macro_input, Data, DeriveInput, Fields};

/// Implements `shmkit::Pod` (bytemuck's `Pod`) for a `#[repr(C)]` or
/// `#[repr(transparent)]` struct whose fields are all `Pod` and which has no padding.
/// The struct must also be `Copy` and `Zeroable` (derive `shmkit::Zeroable`).
///
/// ```ignore
/// #[repr(C)]
/// #[derive(Clone, Copy, Debug, shmkit::Pod, shmkit::Zeroable)]
/// struct Tick {
///     seq: u64,
///     price: f64,
///     side: u8,
///     _pad: [u8; 7], // every byte a field: no padding
/// }
/// ```
#[proc_macro_derive(Pod)]
pub fn derive_pod(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input, Trait::Pod).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// Implements `shmkit::Zeroable` (bytemuck's `Zeroable`: all-zero bytes are a valid
/// value) for a struct whose fields are all `Zeroable`.
#[proc_macro_derive(Zeroable)]
pub fn derive_zeroable(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input, Trait::Zeroable).unwrap_or_else(syn::Error::into_compile_error).into()
}

#[derive(Clone, Copy, PartialEq)]
enum Trait {
    Pod,
    Zeroable,
}

fn expand(input: &DeriveInput, which: Trait) -> syn::Result<Tokens> {
    let name = &input.ident;
    let what = if which == Trait::Pod { "Pod" } else { "Zeroable" };
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new(
            input.generics.span(),
            format!(
                "shmkit::{what} cannot be derived for a generic type: implement shmkit::{what} by hand (it is an \
                 unsafe trait) for each concrete type, after checking it has no padding"
            ),
        ));
    }
    let fields = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(f) => f.named.iter().collect::<Vec<_>>(),
            Fields::Unnamed(f) => f.unnamed.iter().collect(),
            Fields::Unit => Vec::new(),
        },
        _ => {
            return Err(syn::Error::new(
                name.span(),
                format!(
                "shmkit::{what} can be derived only for a struct: enums and unions may hold invalid bytes"
            ),
            ))
        }
    };
    let types: Vec<_> = fields.iter().map(|f| &f.ty).collect();
    let bound = if which == Trait::Pod { quote!(::shmkit::Pod) } else { quote!(::shmkit::Zeroable) };
    let field_checks = types.iter().map(|ty| {
        quote_spanned! {ty.span()=> __shmkit_field_is::<#ty>(); }
    });
    let mut out = quote! {
        const _: () = {
            #[allow(dead_code)]
            fn __shmkit_check_fields() {
                fn __shmkit_field_is<T: #bound>() {}
                #(#field_checks)*
            }
        };
    };
    if which == Trait::Pod {
        check_repr(input)?;
        let message = format!(
            "{name} has padding bytes, which are not plain data: add explicit padding fields \
             (e.g. `_pad: [u8; N]`) so that every byte belongs to a field"
        );
        out.extend(quote! {
            const _: () = ::core::assert!(
                ::core::mem::size_of::<#name>() == 0 #(+ ::core::mem::size_of::<#types>())*,
                #message
            );
            // SAFETY (of the generated impl): `check_repr` proved a fixed layout, the
            // field checks above that every field is Pod, the assertion that no byte is
            // padding; `Copy` and `Zeroable` are the type's own bounds.
            unsafe impl ::shmkit::Pod for #name {}
        });
    } else {
        out.extend(quote! {
            // SAFETY (of the generated impl): every field is Zeroable (checked above), so
            // all-zero bytes are a valid value of the struct.
            unsafe impl ::shmkit::Zeroable for #name {}
        });
    }
    Ok(out)
}

/// Requires `#[repr(C)]` or `#[repr(transparent)]` (possibly with `packed` or `align`):
/// only those fix the layout that another program must agree on.
fn check_repr(input: &DeriveInput) -> syn::Result<()> {
    let mut fixed = false;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("repr")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("C") || meta.path.is_ident("transparent") {
                fixed = true;
            }
            // `packed`, `align(N)` and the like: accepted, their arguments skipped.
            if meta.input.peek(syn::token::Paren) {
                let _content;
                syn::parenthesized!(_content in meta.input);
            }
            Ok(())
        })?;
    }
    if fixed {
        Ok(())
    } else {
        Err(syn::Error::new(
            input.ident.span(),
            format!(
                "shmkit::Pod needs a fixed layout: add `#[repr(C)]` to {} (Rust may reorder the fields of any other struct)",
                input.ident
            ),
        ))
    }
}
