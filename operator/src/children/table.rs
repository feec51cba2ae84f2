//! The macro that turns the list of child kinds into [`ChildKind`](super::ChildKind) and
//! [`PerKind`](super::PerKind): kept apart so the list itself reads as data.

/// `field: Variant => ChildImpl,` per kind, in apply order.
macro_rules! child_kinds {
    ($($(#[$doc:meta])* $field:ident: $variant:ident => $child:ty,)*) => {
        /// Every kind of object a DiceService owns, in apply order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum ChildKind {
            $($variant,)*
        }

        impl ChildKind {
            pub const ALL: &'static [ChildKind] = &[$(ChildKind::$variant,)*];

            /// The kind `K` is, if it is in the list.
            pub fn of<K: Child>() -> Option<ChildKind> {
                let id = std::any::TypeId::of::<K>();
                $(
                    if id == std::any::TypeId::of::<$child>() {
                        return Some(ChildKind::$variant);
                    }
                )*
                None
            }

            fn facts(self) -> Facts {
                match self {
                    $(ChildKind::$variant => Facts::of::<$child>(stringify!($field)),)*
                }
            }
        }

        /// One value per child kind, of the shape the family `F` gives it (the desired
        /// objects, the controller's stores of what exists).
        pub struct PerKind<F: Family> {
            $($(#[$doc])* pub $field: F::Of<$child>,)*
        }

        impl<F: Family> PerKind<F> {
            /// Each kind's value, as `make` makes it (in list order).
            pub fn from_fn(make: &mut impl Make<F>) -> Self {
                Self {
                    $($field: make.make::<$child>(),)*
                }
            }

            /// Shows each kind's value to `visit`, in list order.
            pub fn visit(&self, visit: &mut impl Visit<F>) {
                $(visit.visit::<$child>(&self.$field);)*
            }

            /// Shows each kind's values in `self` and `other` to `visit`, in list order,
            /// until it breaks.
            pub async fn visit_pairs<G: Family, V: VisitPairs<F, G>>(
                &self,
                other: &PerKind<G>,
                visit: &mut V,
            ) {
                $(
                    if visit.visit::<$child>(&self.$field, &other.$field).await.is_break() {
                        return;
                    }
                )*
            }
        }

        impl PerKind<Desired> {
            /// Each kind, in list order, with whether the spec asks for its object.
            pub fn kinds(&self) -> Vec<(ChildKind, bool)> {
                vec![$((ChildKind::$variant, self.$field.is_some()),)*]
            }
        }

        impl<F: Family> Clone for PerKind<F>
        where
            $(F::Of<$child>: Clone,)*
        {
            fn clone(&self) -> Self {
                Self {
                    $($field: self.$field.clone(),)*
                }
            }
        }

        impl<F: Family> PartialEq for PerKind<F>
        where
            $(F::Of<$child>: PartialEq,)*
        {
            fn eq(&self, other: &Self) -> bool {
                true $(&& self.$field == other.$field)*
            }
        }

        impl<F: Family> std::fmt::Debug for PerKind<F>
        where
            $(F::Of<$child>: std::fmt::Debug,)*
        {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("PerKind")
                    $(.field(stringify!($field), &self.$field))*
                    .finish()
            }
        }
    };
}
