//! The mailbox suite, run against SQLite and MongoDB: delivery and paging newest first with the
//! unread count, read / mark read / delete (never with unclaimed attachments), expiry, claim
//! flags, mailbox limits (oldest reports go first, unclaimed attachments never), and isolation
//! between players and kingdoms.

use std::sync::Arc;
use std::time::Duration;

use dominion_persistence::{
    Deleted, KingdomId, MailKind, MailStore, MongoStore, NewMail, SqliteStore,
};
use dominion_sim::types::PlayerId;

use crate::common::{StoreHarness, StoreKind};

per_store_backend!(
    mail_pages_newest_first_with_unread_counts,
    mailbox_limit_drops_oldest_reports_never_unclaimed_attachments,
);

async fn mail_store(h: &StoreHarness) -> Arc<dyn MailStore> {
    let s: Arc<dyn MailStore> = match &h.kind {
        StoreKind::Sqlite(dir) => Arc::new(
            SqliteStore::open(dir.path().join("world.db"), Duration::from_secs(5))
                .await
                .expect("open sqlite"),
        ),
        StoreKind::Mongo { url, db } => Arc::new(
            MongoStore::connect_database(url, Some(db))
                .await
                .expect("connect mongo"),
        ),
    };
    s.prepare_mail().await.expect("prepare mail");
    s
}

fn mail(player: u64, kind: MailKind, title: &str) -> NewMail {
    NewMail {
        player: PlayerId(player),
        kind,
        sent_unix_ms: 1_000,
        expires_unix_ms: None,
        title: title.into(),
        body: title.as_bytes().to_vec(),
        attachments: Vec::new(),
    }
}

async fn mail_pages_newest_first_with_unread_counts(h: StoreHarness) {
    let m = mail_store(&h).await;
    let k = KingdomId(4);
    let mut batch: Vec<NewMail> = (0..25)
        .map(|i| mail(1, MailKind::Battle, &format!("battle {i}")))
        .collect();
    batch.push(mail(2, MailKind::Scout, "bob's scout"));
    let mut expiring = mail(1, MailKind::System, "old news");
    expiring.expires_unix_ms = Some(5_000);
    batch.push(expiring);
    let mut gift = mail(1, MailKind::System, "gift");
    gift.attachments = vec![(0, 500), (3, 20)];
    batch.push(gift);
    let ids = m.deliver(k, &batch, 100).await.expect("deliver");
    assert_eq!(ids.len(), batch.len());
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow: {ids:?}");
    // Another kingdom's mailbox of the same player id is separate.
    m.deliver(KingdomId(5), &[mail(1, MailKind::Battle, "elsewhere")], 100)
        .await
        .expect("deliver elsewhere");

    // Page 1: newest first; the expiring mail shows before its expiry.
    let p1 = m.list(k, PlayerId(1), None, 10, 4_000).await.expect("list");
    assert_eq!((p1.total, p1.unread), (27, 27));
    assert_eq!(p1.mails.len(), 10);
    assert_eq!(p1.mails[0].mail.title, "gift");
    assert_eq!(p1.mails[0].mail.attachments, vec![(0, 500), (3, 20)]);
    assert_eq!(p1.mails[1].mail.title, "old news");
    assert!(p1.mails.windows(2).all(|w| w[0].id > w[1].id));
    // Page 2 continues below the last id; after its expiry the system mail is gone from view.
    let p2 = m
        .list(k, PlayerId(1), Some(p1.mails[9].id), 10, 6_000)
        .await
        .expect("page 2");
    assert_eq!(p2.total, 26);
    assert_eq!(p2.mails[0].mail.title, "battle 16");
    let all = m.list(k, PlayerId(1), None, 100, 6_000).await.unwrap();
    assert!(all.mails.iter().all(|x| x.mail.title != "old news"));
    assert!(all.mails.iter().all(|x| x.mail.player == PlayerId(1)));

    // Read, mark read (twice is harmless), unread count follows.
    let first = p1.mails[5].clone();
    let got = m.get(k, PlayerId(1), first.id).await.unwrap().unwrap();
    assert_eq!(got, first);
    assert_eq!(got.mail.body, got.mail.title.as_bytes());
    assert!(
        m.get(k, PlayerId(2), first.id).await.unwrap().is_none(),
        "not bob's"
    );
    let ids: Vec<u64> = p1.mails[2..6].iter().map(|x| x.id).collect();
    assert_eq!(m.mark_read(k, PlayerId(1), &ids).await.unwrap(), 4);
    assert_eq!(m.mark_read(k, PlayerId(1), &ids).await.unwrap(), 0);
    assert_eq!(m.mark_read(k, PlayerId(2), &ids).await.unwrap(), 0);
    let after = m.list(k, PlayerId(1), None, 1, 6_000).await.unwrap();
    assert_eq!((after.total, after.unread), (26, 22));

    // Delete: gone once; mail with unclaimed attachments stays until claimed.
    assert_eq!(
        m.delete(k, PlayerId(1), first.id).await.unwrap(),
        Deleted::Deleted
    );
    assert_eq!(
        m.delete(k, PlayerId(1), first.id).await.unwrap(),
        Deleted::NotFound
    );
    let gift_id = p1.mails[0].id;
    assert_eq!(
        m.delete(k, PlayerId(1), gift_id).await.unwrap(),
        Deleted::HasUnclaimedAttachments
    );
    assert!(
        !m.mark_claimed(k, PlayerId(2), gift_id).await.unwrap(),
        "not bob's"
    );
    assert!(m.mark_claimed(k, PlayerId(1), gift_id).await.unwrap());
    assert!(
        !m.mark_claimed(k, PlayerId(1), gift_id).await.unwrap(),
        "once"
    );
    assert!(
        m.get(k, PlayerId(1), gift_id)
            .await
            .unwrap()
            .unwrap()
            .claimed
    );
    assert_eq!(
        m.delete(k, PlayerId(1), gift_id).await.unwrap(),
        Deleted::Deleted
    );

    let bob = m.list(k, PlayerId(2), None, 10, 0).await.unwrap();
    assert_eq!((bob.total, bob.mails[0].mail.kind), (1, MailKind::Scout));
}

async fn mailbox_limit_drops_oldest_reports_never_unclaimed_attachments(h: StoreHarness) {
    let m = mail_store(&h).await;
    let k = KingdomId(6);
    let mut gift = mail(1, MailKind::System, "gift");
    gift.attachments = vec![(1, 7)];
    let notice = mail(1, MailKind::System, "notice");
    m.deliver(k, &[gift, notice], 4).await.unwrap();
    for i in 0..6 {
        m.deliver(k, &[mail(1, MailKind::Battle, &format!("b{i}"))], 4)
            .await
            .unwrap();
    }
    let page = m.list(k, PlayerId(1), None, 100, 0).await.unwrap();
    let titles: Vec<&str> = page.mails.iter().map(|x| x.mail.title.as_str()).collect();
    assert_eq!(
        titles,
        vec!["b5", "b4", "notice", "gift"],
        "reports went first, oldest first"
    );
    // Only unclaimed attachments left and a full box: a new report pushes out old reports,
    // never the gift, even when the box is smaller than what must stay.
    m.deliver(k, &[mail(1, MailKind::Scout, "s")], 1)
        .await
        .unwrap();
    let page = m.list(k, PlayerId(1), None, 100, 0).await.unwrap();
    let titles: Vec<&str> = page.mails.iter().map(|x| x.mail.title.as_str()).collect();
    assert_eq!(titles, vec!["gift"]);
}
