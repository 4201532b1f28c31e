import type { Metadata } from "next";
import localFont from "next/font/local";
import type { ReactNode } from "react";
import { THEME_SCRIPT } from "./_lib/theme-script";
import { Providers } from "./providers";
import "./globals.css";

// Bundled from npm: next/font/google would fetch at build time, which air-gapped installs cannot do.
const inter = localFont({
  src: "../node_modules/@fontsource-variable/inter/files/inter-latin-wght-normal.woff2",
  variable: "--font-inter",
  weight: "100 900",
  display: "swap",
});

export const metadata: Metadata = {
  title: { default: "Berth", template: "%s · Berth" },
  description: "Run the containers of a whole fleet of Docker hosts from one dashboard.",
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    // The theme script sets data-theme on <html> before React hydrates: that attribute is expected to differ.
    <html lang="en" className={inter.variable} data-theme="dark" suppressHydrationWarning>
      <head>
        <script dangerouslySetInnerHTML={{ __html: THEME_SCRIPT }} />
      </head>
      <body className="min-h-screen font-sans text-sm">
        <Providers>{children}</Providers>
      </body>
    </html>
  );
}
