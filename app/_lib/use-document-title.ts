"use client";

import { useEffect } from "react";

/** Client pages cannot export `metadata`; they name the tab this way. */
export function useDocumentTitle(title: string | null) {
  useEffect(() => {
    if (title) document.title = `${title} · Berth`;
  }, [title]);
}
