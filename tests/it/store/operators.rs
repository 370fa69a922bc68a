//! Operators and tokens.

use super::*;

store_test!(
    fn tokens_resolve_to_their_owner_until_revoked(store: Store) {
        let w = world::minimal(&store).await;
        let now = w.now.timestamp();
        let casey = store
            .insert_operator_user(w.tenant, "Casey", "casey@acme.test", Role::Csr)
            .await
            .expect("user");
        assert_err!(
            store
                .insert_operator_user(w.tenant, "Casey 2", "casey@acme.test", Role::Admin)
                .await,
            StoreError::Conflict(_)
        );
        store
            .insert_operator_user(w.other_tenant, "Casey", "casey@acme.test", Role::Admin)
            .await
            .expect("emails are per tenant");
        let users = store.operator_users(w.tenant).await.expect("users");
        assert_eq!(
            users
                .iter()
                .map(|u| (u.id, u.name.as_str(), u.role))
                .collect::<Vec<_>>(),
            vec![(casey, "Casey", Role::Csr)]
        );

        let console = store
            .insert_token(
                w.tenant,
                Some(casey),
                Role::Csr,
                "console",
                "hash-console",
                now,
            )
            .await
            .expect("token");
        let integration = store
            .insert_token(w.tenant, None, Role::Integration, "crm", "hash-crm", now)
            .await
            .expect("token");
        assert_err!(
            store
                .insert_token(
                    w.other_tenant,
                    None,
                    Role::Admin,
                    "dup",
                    "hash-console",
                    now
                )
                .await,
            StoreError::Conflict(_)
        );

        let owner = store
            .token_owner("hash-console")
            .await
            .expect("lookup")
            .expect("a live token");
        assert_eq!(
            (owner.token_id, owner.tenant_id, owner.user_id, owner.role),
            (console, w.tenant, Some(casey), Role::Csr)
        );
        let owner = store
            .token_owner("hash-crm")
            .await
            .expect("lookup")
            .expect("a live token");
        assert_eq!(
            (owner.token_id, owner.user_id, owner.role),
            (integration, None, Role::Integration)
        );
        assert!(store
            .token_owner("hash-unknown")
            .await
            .expect("lookup")
            .is_none());

        store.revoke_token(console, now + 60).await.expect("revoke");
        assert!(store
            .token_owner("hash-console")
            .await
            .expect("lookup")
            .is_none());
        assert!(store
            .token_owner("hash-crm")
            .await
            .expect("lookup")
            .is_some());
    }
);
